//! Publishing config generations. A reload (SIGHUP, `Server::reload`) and a
//! change of a host name's addresses found by the resolver thread both end
//! here, one at a time under one lock (control threads only, never a
//! shard), so neither loses the other's change: a reload keeps the names'
//! current addresses, and a DNS change applies to the config in force.
//!
//! The lock holds the *base* config (as loaded: names unresolved), the
//! table of resolved addresses and the bound listeners; every generation is
//! `table.apply(base)`. A reload binds the listeners it adds under the same
//! lock, before it publishes (ADR 18).

pub mod refresh;
mod restart;

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use metrics::Gauge;
use shardgate_config::{AccessLogPath, Config, ResolverConfig};

use crate::access_log::Sink;
use crate::ctx::Shared;
use crate::discovery::{Answer, Table};
use crate::listeners::plan::{plan, Running};
use crate::listeners::retune;
use crate::metrics::control::GENERATION;
use crate::snapshot::Snapshot;
use crate::Error;

pub struct Publisher {
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Wakes the resolver thread: a reload changed the names, or a stop.
    wake: Condvar,
    generation: Gauge,
    /// The process's QUIC connection-ID generation (ADR 19).
    cid_generation: u8,
}

struct State {
    base: Config,
    table: Table,
    /// The running generation's listeners, in its config order.
    listeners: Vec<Running>,
    /// The next listener id (never reused).
    next_id: u32,
    stopping: bool,
}

impl Publisher {
    /// `base` is running (as `table.apply(base)`) as generation 1, with
    /// `listeners` bound.
    pub fn new(
        shared: Arc<Shared>,
        listeners: Vec<Running>,
        next_id: u32,
        base: Config,
        table: Table,
        cid_generation: u8,
    ) -> Self {
        Publisher {
            shared,
            state: Mutex::new(State {
                base,
                table,
                listeners,
                next_id,
                stopping: false,
            }),
            wake: Condvar::new(),
            generation: metrics::gauge!(GENERATION),
            cid_generation,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running generation's listeners (a binary upgrade hands them over).
    pub fn running(&self) -> Vec<Running> {
        self.lock().listeners.clone()
    }

    /// Name and bound address of each listener of the running generation.
    pub fn bound(&self) -> Vec<(String, SocketAddr)> {
        self.lock()
            .listeners
            .iter()
            .map(|r| (r.name.clone(), r.local))
            .collect()
    }

    /// Publishes `config` as the next generation, or says why not (the
    /// running one stays). Names it adds are resolved now; names it keeps
    /// keep their current addresses.
    pub fn reload(&self, config: Config) -> Result<u64, Error> {
        let mut st = self.lock();
        let published = self.try_reload(&mut st, &config);
        match &published {
            Ok(_) => {
                st.table.retain(&config);
                st.base = config;
                self.wake.notify_all();
            }
            // Names resolved for the refused config are forgotten again.
            Err(_) => {
                let State { base, table, .. } = &mut *st;
                table.retain(base);
            }
        }
        published
    }

    fn try_reload(&self, st: &mut State, config: &Config) -> Result<u64, Error> {
        let current = self.shared.snapshot.load();
        restart::check(&current.config, config)?;
        st.table.resolve_new(config, Instant::now())?;
        let shards = self.shared.stats.len();
        // Binds the added listeners: a port in use refuses the reload here.
        // From here to the store, a refusal drops the new sockets (closed).
        let mut next_id = st.next_id;
        let planned = plan(
            &st.listeners,
            config,
            &mut next_id,
            shards,
            self.cid_generation,
            None,
        )?;
        let generation = current.generation + 1;
        let next = Snapshot::new(st.table.apply(config), generation, &self.shared.ticketer)?
            .with_listeners(&planned.running)
            .with_draining_quic(&current)
            .with_health(Some(&current.health), shards)
            .with_limits(Some(&current.rate_limits), shards)
            .with_route_counters(Some(&current));
        // Kept listeners' new socket options, put back if the access log
        // refuses the reload.
        retune::apply(&planned.retunes)?;
        // Last, as it switches the output: nothing after it can refuse the reload.
        if let Err(e) = self.apply_access_log(&next.config) {
            retune::undo(&planned.retunes);
            return Err(e);
        }
        // The sockets wait for their shards before any shard can see the
        // generation that names them.
        for (id, sockets) in planned.added {
            self.shared.handoff.put(id, sockets);
        }
        let ids: Vec<_> = planned.running.iter().map(|r| r.id).collect();
        self.shared.handoff.retain(&ids);
        let next = Arc::new(next);
        self.shared.snapshot.store(next.clone());
        next.health.took_over(&current.health);
        st.listeners = planned.running;
        st.next_id = next_id;
        Ok(generation)
    }

    /// Takes the resolver thread's answers; a changed address set
    /// publishes a generation of the config in force with the new
    /// addresses (servers that stay keep their pools; the others drain).
    fn refreshed(&self, results: Vec<(String, Result<Answer, String>)>) {
        let mut st = self.lock();
        let now = Instant::now();
        let mut changed = false;
        for (host, outcome) in results {
            changed |= st.table.record(&host, outcome, now);
        }
        if !changed {
            return;
        }
        let current = self.shared.snapshot.load();
        let generation = current.generation + 1;
        let config = st.table.apply(&st.base);
        match Snapshot::new(config, generation, &self.shared.ticketer) {
            Ok(next) => {
                // Servers that stay keep their process-wide health.
                // The same listeners: `base` is the config they were bound for.
                let next = Arc::new(
                    next.with_listeners(&st.listeners)
                        .with_draining_quic(&current)
                        .with_health(Some(&current.health), self.shared.stats.len())
                        .with_limits(Some(&current.rate_limits), self.shared.stats.len())
                        .with_route_counters(Some(&current)),
                );
                self.shared.snapshot.store(next.clone());
                next.health.took_over(&current.health);
                // Generations stay far below 2^53, exact in an f64.
                self.generation.set(generation as f64);
                tracing::info!(
                    generation,
                    "config generation published for new host name addresses"
                );
            }
            // The same settings built the running generation; were this
            // to fail anyway, the running one stays.
            Err(e) => tracing::error!("new host name addresses not applied: {e}"),
        }
    }

    /// Blocks until some names are due for resolution (returns them and
    /// the resolver settings) or the server stops (None).
    fn wait_due(&self) -> Option<(Vec<String>, ResolverConfig)> {
        let mut st = self.lock();
        loop {
            if st.stopping {
                return None;
            }
            let now = Instant::now();
            let (due, next) = st.table.due(&st.base, now);
            if !due.is_empty() {
                return Some((due, st.base.resolver.clone()));
            }
            st = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(now);
                    match self.wake.wait_timeout(st, wait) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    }
                }
                None => self.wake.wait(st).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    /// Ends the resolver thread (at its next wake-up; a resolution in
    /// progress finishes first).
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// A changed `access_log.path` is opened now (refusing the reload if it
    /// cannot be) and taken by the writer before its next write. A config that
    /// adds `[access_log]` starts the writer; one that removes it leaves the
    /// idle writer running (shards stop logging by the config).
    fn apply_access_log(&self, config: &Config) -> Result<(), Error> {
        let Some(a) = &config.access_log else {
            return Ok(());
        };
        match self.shared.access_log.get() {
            Some(sink) => sink.set_target(&a.path).map_err(|source| Error::AccessLog {
                path: a.path.to_string(),
                source,
            }),
            None => {
                let sink = open_access_log(&a.path, self.shared.stats.len())?;
                // Reloads are serialized by the lock; were there a race, the
                // loser's sink would just be closed again.
                let _ = self.shared.access_log.set(sink);
                Ok(())
            }
        }
    }
}

pub fn open_access_log(path: &AccessLogPath, shards: usize) -> Result<Sink, Error> {
    Sink::open(path, shards).map_err(|source| Error::AccessLog {
        path: path.to_string(),
        source,
    })
}
