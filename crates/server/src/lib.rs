#![forbid(unsafe_code)]
//! The gateway runtime: shards, listeners, connection drivers, admin, reload.
//!
//! [`Server::start`] binds every listener (one `SO_REUSEPORT` socket per shard),
//! starts the shard threads and the admin thread, and returns once every shard is
//! serving. [`Server::shutdown`] starts a graceful stop; [`Server::join`] waits for it.

pub mod access_log;
mod admin;
mod buffers;
mod conn;
mod conn_table;
mod error;
mod event;
mod metrics;
mod shard;
mod snapshot;
mod stats;
mod tls;

pub use error::Error;
pub use shardgate_net::ActiveDriver;
pub use stats::ShardStats;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use shardgate_config::Config;
use shardgate_net::{bind_tcp_group, bind_tcp_single, online_cores, ListenOpts};

use crate::shard::{ShardSpec, Shared};
use crate::snapshot::Snapshot;

pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    listeners: Vec<(String, SocketAddr)>,
    admin: Option<SocketAddr>,
    drivers: Vec<ActiveDriver>,
}

impl Server {
    pub fn start(config: Config) -> Result<Server, Error> {
        // Before any shard registers its handles, or they would be no-ops.
        let recorder = metrics::recorder::install();
        // TLS settings are built first: a bad certificate fails before any bind.
        let ticketer = tls::ticketer()?;
        let first = Snapshot::new(config, 1, &ticketer)?;
        let config = &first.config;
        let shards = match config.server.shards {
            0 => online_cores(),
            n => n,
        };
        let cores = shardgate_net::allowed_cores().unwrap_or_default();
        let mut per_shard: Vec<Vec<(usize, std::net::TcpListener)>> =
            (0..shards).map(|_| Vec::new()).collect();
        let mut listeners = Vec::new();
        for (idx, l) in config.listeners.iter().enumerate() {
            let opts = ListenOpts {
                backlog: l.backlog,
                tcp_fast_open: l.tcp_fast_open,
                defer_accept: l.defer_accept,
                steering: config.server.steering,
            };
            let group = bind_tcp_group(l.address, shards, &opts).map_err(|source| Error::Bind {
                name: l.name.clone(),
                addr: l.address,
                source,
            })?;
            let local = group
                .first()
                .and_then(|s| s.local_addr().ok())
                .unwrap_or(l.address);
            listeners.push((l.name.clone(), local));
            for (shard, sock) in group.into_iter().enumerate() {
                if let Some(v) = per_shard.get_mut(shard) {
                    v.push((idx, sock));
                }
            }
        }
        let admin_sock = match &config.admin {
            Some(a) => Some(
                bind_tcp_single(a.address, 128).map_err(|source| Error::Admin {
                    addr: a.address,
                    source,
                })?,
            ),
            None => None,
        };
        let admin = admin_sock.as_ref().and_then(|s| s.local_addr().ok());
        let driver = config.server.driver;
        let shared = Arc::new(Shared {
            snapshot: Arc::new(ArcSwap::from_pointee(first)),
            stopping: AtomicBool::new(false),
            ticketer,
            stats: (0..shards)
                .map(|_| stats::ShardCounters::default())
                .collect(),
        });
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        for (id, socks) in per_shard.into_iter().enumerate() {
            let spec = ShardSpec {
                id,
                // More shards than cores (tests do this) share cores unpinned.
                core: if shards <= cores.len() {
                    cores.get(id).copied()
                } else {
                    None
                },
                driver,
                listeners: socks,
                shared: shared.clone(),
            };
            let tx = tx.clone();
            let t = std::thread::Builder::new()
                .name(format!("shard-{id}"))
                .spawn(move || shard::run(spec, tx))?;
            threads.push(t);
        }
        drop(tx);
        let mut server = Server {
            shared: shared.clone(),
            threads,
            listeners,
            admin,
            drivers: Vec::new(),
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
        if let Some(sock) = admin_sock {
            let shared = shared.clone();
            let t = std::thread::Builder::new()
                .name("admin".into())
                .spawn(move || admin::run(sock, shared, recorder))?;
            server.threads.push(t);
        }
        Ok(server)
    }

    /// Local address of each listener, by name, in config order.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
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

    /// Publishes a new config generation. Listener, shard and buffer settings
    /// need a restart; a config that changes them is refused and the running
    /// one stays.
    pub fn reload(&self, config: Config) -> Result<u64, Error> {
        let current = self.shared.snapshot.load();
        let old = &current.config;
        // Certificates and TLS settings reload; sockets do not.
        let sockets = |c: &Config| {
            c.listeners
                .iter()
                .map(|l| {
                    (
                        l.name.clone(),
                        l.address,
                        l.protocol,
                        l.tcp_fast_open,
                        l.defer_accept,
                        l.backlog,
                    )
                })
                .collect::<Vec<_>>()
        };
        if sockets(old) != sockets(&config) {
            return Err(Error::Reload(
                "listener names, addresses or socket options changed: restart needed".into(),
            ));
        }
        if old.server.shards != config.server.shards
            || old.server.driver != config.server.driver
            || old.server.steering != config.server.steering
            || old.server.max_connections_per_shard != config.server.max_connections_per_shard
            || old.server.buffer_size != config.server.buffer_size
            || old.admin != config.admin
        {
            return Err(Error::Reload(
                "server.shards/driver/steering/max_connections_per_shard/buffer_size or admin changed: restart needed".into(),
            ));
        }
        let generation = current.generation + 1;
        self.shared.snapshot.store(Arc::new(Snapshot::new(
            config,
            generation,
            &self.shared.ticketer,
        )?));
        Ok(generation)
    }

    /// Starts a graceful stop: listeners close, idle connections close, requests
    /// in flight finish (up to `shutdown_grace`).
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
    }

    pub fn join(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
        self.join();
    }
}
