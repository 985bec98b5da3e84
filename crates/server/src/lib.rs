#![forbid(unsafe_code)]
//! The gateway runtime: shards, listeners, connection drivers, admin, reload.
//!
//! [`Server::start`] binds every listener (one `SO_REUSEPORT` socket per shard),
//! starts the shard threads, the health thread and the admin thread, and returns
//! once every shard is serving. [`Server::shutdown`] starts a graceful stop; [`Server::join`] waits for it.

pub mod access_log;
mod admin;
mod buffers;
mod clients;
mod conn;
mod conn_table;
mod control;
mod ctx;
mod discovery;
mod error;
mod event;
mod flight;
mod h3;
mod health;
mod idle;
mod lifecycle;
mod listeners;
mod metrics;
mod pipes;
mod publish;
mod quic;
mod ratelimit;
mod redis_sync;
mod shard;
mod snapshot;
mod stats;
mod status;
mod tls;
mod upgrade;
mod upstream;

pub use control::ConfigFile;
pub use discovery::unresolved as unresolved_host_names;
pub use error::Error;
pub use shardgate_net::ActiveDriver;
pub use stats::ShardStats;
pub use upgrade::child::Successor;

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use shardgate_config::Config;
use shardgate_net::{bind_tcp_single, online_cores};

use crate::control::Control;
use crate::ctx::Shared;
use crate::discovery::Table;
use crate::listeners::inherited::Inherited;
use crate::metrics::control::ReloadMetrics;
use crate::metrics::upgrade::UpgradeMetrics;
use crate::publish::{open_access_log, Publisher};
use crate::shard::ShardSpec;
use crate::snapshot::Snapshot;

pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Joined after the shards: it answers (`/ready` 503) during a drain.
    admin_thread: Option<JoinHandle<()>>,
    admin: Option<SocketAddr>,
    drivers: Vec<ActiveDriver>,
    /// Reloads and DNS changes, one at a time (the bound listeners).
    publisher: Arc<Publisher>,
    upgrade_metrics: UpgradeMetrics,
    /// The admin listener's configured address and a duplicate of its
    /// socket, for a binary upgrade (ADR 19).
    admin_fd: Option<(SocketAddr, OwnedFd)>,
    /// This process's QUIC connection-ID generation (0, or the one after
    /// its predecessor's).
    cid_generation: u8,
    /// Set when this process was started by an upgrade: the old process,
    /// while it drains.
    predecessor: Option<upgrade::Predecessor>,
    /// Set once this process handed over: the channel to the successor,
    /// open until this process exits (its end closing tells the successor
    /// that the old generation is gone).
    handed_over: OnceLock<OwnedFd>,
    /// Reloads (counted), the config file, the stop.
    control: Arc<Control>,
}

impl Server {
    /// Loads the config file at `path` and starts with it: `/config` shows
    /// the file, and SIGHUP / `POST /reload` reload it.
    pub fn start_file(path: &Path) -> Result<Server, Error> {
        let (config, file) = ConfigFile::load(path)?;
        let server = Server::start(config)?;
        server.set_config_file(file);
        Ok(server)
    }

    /// Records that the running generation was loaded from `file` (see
    /// [`ConfigFile::load`]): `/config` shows it, and SIGHUP / `POST /reload`
    /// reload it.
    pub fn set_config_file(&self, mut file: ConfigFile) {
        file.generation = self.generation();
        self.control.set_file(file);
    }

    /// Starts with a config given in memory (tests, embedding): there is no
    /// file to reload.
    pub fn start(config: Config) -> Result<Server, Error> {
        Server::start_with(config, None)
    }

    /// Starts with the sockets a binary upgrade handed over (ADR 19):
    /// listeners of the same name, protocol and address adopt them; the
    /// QUIC sockets are not read until [`Server::confirm_ready`].
    pub fn start_with(config: Config, mut inherited: Option<Inherited>) -> Result<Server, Error> {
        // Before any shard registers its handles, or they would be no-ops.
        let recorder = metrics::recorder::install();
        let reload_metrics = ReloadMetrics::register();
        let upgrade_metrics = UpgradeMetrics::register();
        // TLS settings are built first: a bad certificate fails before any bind.
        let ticketer = tls::ticketer()?;
        // Host names in `servers` too: one that does not resolve refuses
        // to start (as nginx does), before anything is bound.
        let mut names = Table::default();
        names.resolve_new(&config, Instant::now())?;
        let first = Snapshot::new(names.apply(&config), 1, &ticketer)?;
        let base = config;
        let config = &first.config;
        let shards = match config.server.shards {
            0 => online_cores(),
            n => n,
        };
        let cores = shardgate_net::allowed_cores().unwrap_or_default();
        if let Some(inh) = &inherited {
            upgrade::check_layout(inh, shards, config.server.steering)?;
        }
        let cid_generation = inherited
            .as_ref()
            .map_or(0, |i| quic::next_generation(i.generation));
        // Every listener is "added" to an empty set: bound (or adopted) here,
        // handed to the shards as a reload's would be (ADR 18).
        let mut next_id = 0;
        let planned = listeners::plan::plan(
            &[],
            config,
            &mut next_id,
            shards,
            cid_generation,
            inherited.as_mut(),
        )?;
        let handed_admin = inherited.as_mut().and_then(|i| i.admin.take());
        let admin_sock = match &config.admin {
            Some(a) => Some(match handed_admin {
                Some((configured, fd)) if configured == a.address => {
                    std::net::TcpListener::from(fd)
                }
                _ => bind_tcp_single(a.address, 128).map_err(|source| Error::Admin {
                    addr: a.address,
                    source,
                })?,
            }),
            None => None,
        };
        let admin_fd = match (&config.admin, &admin_sock) {
            (Some(a), Some(s)) => Some((a.address, s.as_fd().try_clone_to_owned()?)),
            _ => None,
        };
        let predecessor = inherited.map(upgrade::Predecessor::from);
        let admin = admin_sock.as_ref().and_then(|s| s.local_addr().ok());
        let driver = net_driver(config.server.driver);
        let access_log = match &config.access_log {
            Some(a) => OnceLock::from(open_access_log(&a.path, shards)?),
            None => OnceLock::new(),
        };
        let handoff = listeners::handoff::Handoff::default();
        for (id, sockets) in planned.added {
            handoff.put(id, sockets);
        }
        let shared = Arc::new(Shared {
            snapshot: Arc::new(ArcSwap::from_pointee(
                first
                    .with_listeners(&planned.running)
                    .with_health(None, shards)
                    .with_limits(None, shards)
                    .with_route_counters(None),
            )),
            stopping: AtomicBool::new(false),
            ticketer,
            stats: (0..shards)
                .map(|_| stats::ShardCounters::default())
                .collect(),
            status: (0..shards)
                .map(|_| status::ShardStatus::default())
                .collect(),
            access_log,
            handoff,
            retiring: AtomicBool::new(false),
            // A new process reads its UDP sockets once the old one stopped.
            udp_gate: Arc::new(AtomicBool::new(predecessor.is_none())),
            clients: Arc::default(),
        });
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        for id in 0..shards {
            let spec = ShardSpec {
                id,
                // More shards than cores (tests do this) share cores unpinned.
                core: if shards <= cores.len() {
                    cores.get(id).copied()
                } else {
                    None
                },
                driver,
                shared: shared.clone(),
            };
            let tx = tx.clone();
            let t = std::thread::Builder::new()
                .name(format!("shard-{id}"))
                .spawn(move || shard::run(spec, tx))?;
            threads.push(t);
        }
        drop(tx);
        let publisher = Arc::new(Publisher::new(
            shared.clone(),
            planned.running,
            next_id,
            base,
            names,
            cid_generation,
        ));
        let control = Arc::new(Control::new(
            shared.clone(),
            publisher.clone(),
            reload_metrics,
        ));
        let mut server = Server {
            shared: shared.clone(),
            threads,
            admin_thread: None,
            admin,
            drivers: Vec::new(),
            publisher: publisher.clone(),
            upgrade_metrics,
            admin_fd,
            cid_generation,
            predecessor,
            handed_over: OnceLock::new(),
            control: control.clone(),
        };
        for _ in 0..shards {
            match rx.recv() {
                Ok(Ok(d)) => server.drivers.push(d),
                Ok(Err(e)) => {
                    server.shutdown();
                    server.join();
                    return Err(Error::Shard(e));
                }
                Err(_) => {
                    server.shutdown();
                    server.join();
                    return Err(Error::Shard("a shard thread exited during start-up".into()));
                }
            }
        }
        server.threads.push(health::spawn(shared.clone())?);
        server.threads.push(redis_sync::spawn(shared.clone())?);
        if let Some(sock) = admin_sock {
            let control = control.clone();
            let t = std::thread::Builder::new()
                .name("admin".into())
                .spawn(move || admin::run(sock, control, recorder))?;
            server.admin_thread = Some(t);
        }
        publish::refresh::spawn(publisher)?;
        ::metrics::gauge!(metrics::control::GENERATION).set(1.0);
        Ok(server)
    }

    /// Local address of each listener of the running generation, by name,
    /// in config order.
    pub fn listeners(&self) -> Vec<(String, SocketAddr)> {
        self.publisher.bound()
    }

    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.publisher
            .bound()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The driver each shard runs, by shard index.
    pub fn drivers(&self) -> &[ActiveDriver] {
        &self.drivers
    }

    /// Per-shard connection counters of this server, by shard index.
    pub fn shard_stats(&self) -> Vec<ShardStats> {
        self.shared.stats.iter().map(|s| s.read()).collect()
    }

    pub fn generation(&self) -> u64 {
        self.shared.snapshot.load().generation
    }

    /// Publishes a new config generation. Listeners are added (bound on
    /// every shard before the generation is published), removed (they
    /// drain) or kept by name (ADR 18); shard, driver, steering, buffer and
    /// admin settings need a restart, and a config that changes them is
    /// refused and the running one stays.
    pub fn reload(&self, config: Config) -> Result<u64, Error> {
        self.control.reload(config)
    }

    /// Loads `path` and publishes it: a file that does not load and a
    /// config that is refused both count as a failed reload.
    pub fn reload_file(&self, path: &Path) -> Result<u64, Error> {
        self.control.reload_file(path)
    }

    /// SIGHUP: reloads the file the running config came from (the same
    /// path as the admin API's `POST /reload`).
    pub fn reload_running_file(&self) -> Result<u64, Error> {
        self.control.reload_running_file()
    }

    /// The file the running config was loaded from (None: given in memory).
    pub fn config_file(&self) -> Option<ConfigFile> {
        self.control.file().map(|f| (*f).clone())
    }

    /// `hook` runs once when a graceful stop starts, whoever started it
    /// (`shutdown`, or the admin API's `POST /drain`): the binary wakes its
    /// signal loop with it.
    pub fn on_stop(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.control.on_stop(Box::new(hook));
    }

    /// `SIGUSR1`: the access-log writer reopens its file before its next write
    /// (after logrotate renamed it). No access log, or stdout: nothing happens.
    pub fn reopen_access_log(&self) {
        if let Some(sink) = self.shared.access_log.get() {
            sink.reopen();
        }
    }

    /// Starts a graceful stop: listeners close, idle connections close, requests
    /// in flight finish (up to `shutdown_grace`).
    pub fn shutdown(&self) {
        self.control.stop();
    }

    /// Waits for the shards to drain, then stops the admin listener (which
    /// answered `/ready` with 503 meanwhile).
    pub fn join(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(t) = self.admin_thread.take() {
            self.control.admin_stop.store(true, Ordering::Relaxed);
            // A retired process's admin socket is the successor's: a wake-up
            // connection would reach it. Its admin thread ended at the
            // hand-over (and sees `admin_stop` within its accept timeout).
            let retired = self.shared.retiring.load(Ordering::Relaxed);
            if let (false, Some(addr)) = (retired, self.admin) {
                admin::wake(addr);
            }
            let _ = t.join();
        }
        // The duplicate kept for a hand-over would keep the admin port
        // listening (connections queued, never answered) after the stop.
        self.admin_fd = None;
        // The shards have flushed their last lines; write them and stop.
        if let Some(sink) = self.shared.access_log.get() {
            sink.close();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
        self.join();
    }
}

// shardgate-net keeps its own copy of this enum (and of `Steering`, see
// `listeners::bind`) so the crate holding the `unsafe` does not depend on
// the config parser.
fn net_driver(d: shardgate_config::Driver) -> shardgate_net::Driver {
    match d {
        shardgate_config::Driver::Auto => shardgate_net::Driver::Auto,
        shardgate_config::Driver::IoUring => shardgate_net::Driver::IoUring,
        shardgate_config::Driver::Epoll => shardgate_net::Driver::Epoll,
    }
}
