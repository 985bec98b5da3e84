//! Everything one shard owns. Lives in an `Rc` on the shard's thread; nothing here
//! is shared with another thread except the snapshot (`ArcSwap`) and the stop flag.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::Cache;
use shardgate_net::Poller;
use shardgate_proxy::{DateCache, Rng};

use crate::access_log::ShardLog;
use crate::buffers::{BufferPool, TLS_BUFFER};
use crate::conn_table::ConnTable;
use crate::event::LocalEvent;
use crate::flight::{self, RouteFlight, ShardFlight};
use crate::lifecycle::access;
use crate::lifecycle::RequestCtx;
use crate::listeners::local::Listeners;
use crate::listeners::ListenerId;
use crate::metrics::{RouteMetrics, ShardMetrics, NO_ROUTE};
use crate::pipes::PipePool;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::stats::ShardCounters;
use crate::upstream::{self, UpstreamState};

/// The shard's current generation: the shared snapshot plus this shard's
/// upstream state and per-route metric handles built for it. Requests hold an
/// `Rc` for their whole life, so a reload never changes the rules under a
/// request in flight.
pub struct ShardSnap {
    pub snap: Arc<Snapshot>,
    pub upstreams: Vec<UpstreamState>,
    /// By route index.
    pub routes: Vec<RouteMetrics>,
    /// By route index: `shardgate_rate_limit_evictions_total{route}` (a
    /// no-op handle for routes without rate limits).
    pub rate_limit_evictions: Vec<metrics::Counter>,
    /// By route index: requests in flight (kept across reloads by name).
    pub route_flight: Vec<Rc<RouteFlight>>,
}

impl ShardSnap {
    fn build(
        shard: usize,
        snap: Arc<Snapshot>,
        previous: &[UpstreamState],
        previous_routes: &[Rc<RouteFlight>],
    ) -> Self {
        let upstreams = upstream::build(
            &snap.config,
            &snap.maglev,
            &snap.health,
            &snap.upstream_tls,
            previous,
            shard,
        );
        let routes = snap
            .config
            .routes
            .iter()
            .map(|r| RouteMetrics::new(shard, &r.name))
            .collect();
        let rate_limit_evictions = snap
            .config
            .routes
            .iter()
            .map(crate::metrics::ratelimit::evictions)
            .collect();
        let route_flight =
            flight::routes(shard, &snap.config, &snap.route_counters, previous_routes);
        ShardSnap {
            snap,
            upstreams,
            routes,
            rate_limit_evictions,
            route_flight,
        }
    }
}

/// State shared by all shards of one server (control thread included).
pub struct Shared {
    pub snapshot: SharedSnapshot,
    pub stopping: AtomicBool,
    /// One entry per shard, written only by that shard.
    pub stats: Vec<ShardCounters>,
    /// One entry per shard, written only by that shard (see `status`).
    pub status: Vec<crate::status::ShardStatus>,
    /// The TLS ticket key, kept across reloads (see `tls`).
    pub ticketer: Arc<dyn rustls::server::ProducesTickets>,
    /// Set once `[access_log]` is configured (at start or by a reload); a shard takes its `ShardLog` from it.
    pub access_log: std::sync::OnceLock<crate::access_log::Sink>,
    /// Sockets of listeners added by a reload (or bound at start) on their
    /// way to their shards (ADR 18).
    pub handoff: crate::listeners::handoff::Handoff,
    /// A binary upgrade's new process is serving (ADR 19): accept loops
    /// end without shutting the shared sockets down, responses say
    /// `Connection: close`, idle connections are left to their next request.
    pub retiring: AtomicBool,
    /// Whether this process reads its QUIC UDP sockets (ADR 19): shut in a
    /// new process until the old one stopped reading, and in a retiring one.
    pub udp_gate: Arc<AtomicBool>,
    /// Connections per client on listeners with `max_connections_per_client`.
    pub clients: Arc<crate::clients::ClientConns>,
}

/// Size of a streaming buffer (see `ShardCtx::stream_buffers`).
const STREAM_BUFFER: usize = 64 * 1024;
/// Capacity of a splice pipe (see `ShardCtx::pipes`): 256 KiB moves a
/// 256 KiB body in fewer fill/drain rounds than Linux's default 64 KiB
/// (measured: 0.69× vs 0.74× the copying path's CPU per request, ADR 22).
/// A user over `pipe-user-pages-soft` gets the kernel's smaller default.
const PIPE_SIZE: usize = 256 * 1024;
/// Pipes a shard may have open at once (two descriptors each); a response
/// past them is copied through a buffer.
const MAX_PIPES: usize = 256;
/// Size of the buffer a connection waits with (see `ShardCtx::small_buffers`);
/// `server.buffer_size` is at least 4 KiB, so the pools never mix.
const SMALL_BUFFER: usize = 2 * 1024;

pub struct ShardCtx {
    pub id: usize,
    pub shared: Arc<Shared>,
    cache: RefCell<Cache<SharedSnapshot, Arc<Snapshot>>>,
    current: RefCell<Rc<ShardSnap>>,
    pub buffers: BufferPool,
    /// Larger buffers for reading upstream responses: a 16 KiB response arrives
    /// in one read with its head, and large bodies move in fewer, bigger steps.
    pub stream_buffers: BufferPool,
    /// Small buffers a connection waits with during its hot window.
    pub small_buffers: BufferPool,
    /// TLS record buffers, lent to a TLS stream while ciphertext moves
    /// (shared with the streams, hence the `Rc`; ADR 20).
    pub tls_buffers: Rc<BufferPool>,
    /// Pipes that move response bodies between plain sockets (ADR 22).
    pub pipes: PipePool,
    pub table: Rc<ConnTable>,
    /// Where parked connections' sockets wait (see `conn::park`).
    pub poller: RefCell<Poller>,
    pub shutdown: LocalEvent,
    /// Fired on the first tick after the process started retiring: every
    /// accept loop of the shard ends.
    pub accept_stop: LocalEvent,
    date: RefCell<DateCache>,
    pub rng: RefCell<Rng>,
    pub metrics: ShardMetrics,
    /// Requests that matched no route.
    pub no_route: RouteMetrics,
    /// This shard's access-log buffers, made when the access log is first on.
    access_log: RefCell<Option<ShardLog>>,
    /// The listeners this shard serves (and removed ones still draining).
    pub listeners: RefCell<Listeners<Rc<ShardSnap>>>,
    /// Requests this shard serves now (`[server.limits] max_in_flight`).
    pub flight: Rc<ShardFlight>,
}

impl ShardCtx {
    pub fn new(id: usize, shared: Arc<Shared>) -> std::io::Result<Rc<Self>> {
        let poller = RefCell::new(Poller::new()?);
        let snap = shared.snapshot.load_full();
        let cfg = &snap.config.server;
        let buffers = BufferPool::new(cfg.buffer_size, cfg.max_connections_per_shard.min(512) * 2);
        let stream_buffers = BufferPool::new(
            cfg.buffer_size.max(STREAM_BUFFER),
            cfg.max_connections_per_shard.min(256),
        );
        let small_buffers = BufferPool::new(SMALL_BUFFER, cfg.max_connections_per_shard.min(4096));
        let tls_buffers = Rc::new(BufferPool::new(
            TLS_BUFFER,
            cfg.max_connections_per_shard.min(256),
        ));
        let pipes = PipePool::new(PIPE_SIZE, cfg.max_connections_per_shard.min(MAX_PIPES));
        let table = ConnTable::new(cfg.max_connections_per_shard);
        let current = ShardSnap::build(id, snap, &[], &[]);
        let cache = Cache::new(shared.snapshot.clone());
        Ok(Rc::new(Self {
            id,
            poller,
            cache: RefCell::new(cache),
            current: RefCell::new(Rc::new(current)),
            shared,
            buffers,
            stream_buffers,
            small_buffers,
            tls_buffers,
            pipes,
            table,
            shutdown: LocalEvent::new(),
            accept_stop: LocalEvent::new(),
            date: RefCell::new(DateCache::new()),
            // Seeded from the OS, so the gateways of a fleet do not all draw
            // the same jitter and backoff sequence.
            rng: RefCell::new(Rng::new(os_seed(id))),
            metrics: ShardMetrics::new(id),
            no_route: RouteMetrics::new(id, NO_ROUTE),
            access_log: RefCell::new(None),
            listeners: RefCell::new(Listeners::new()),
            flight: ShardFlight::new(id),
        }))
    }

    /// The current generation; rebuilds the shard-local upstream state when the
    /// control thread has published a new snapshot since the last call.
    pub fn snapshot(&self) -> Rc<ShardSnap> {
        let mut cache = self.cache.borrow_mut();
        let latest = cache.load();
        let mut current = self.current.borrow_mut();
        if !Arc::ptr_eq(latest, &current.snap) {
            let next = ShardSnap::build(
                self.id,
                latest.clone(),
                &current.upstreams,
                &current.route_flight,
            );
            upstream::retire_dropped(&current.upstreams, &next.upstreams);
            let previous = std::mem::replace(&mut *current, Rc::new(next));
            // Listeners this generation lacks start draining now, on this
            // shard, under the generation that still had them (ADR 18).
            let grace = latest.config.server.timeouts.shutdown_grace;
            self.listeners
                .borrow_mut()
                .retire_missing(latest.listener_ids(), &previous, || Instant::now() + grace);
            tracing::info!(
                shard = self.id,
                generation = latest.generation,
                "config generation picked up"
            );
        }
        current.clone()
    }

    /// The generation a request on listener `id` runs under, and the
    /// listener's position in it: the current one, or for a removed
    /// listener still draining, the last one that had it. None: the
    /// listener is gone past its grace period.
    pub fn snapshot_for(&self, id: ListenerId) -> Option<(Rc<ShardSnap>, usize)> {
        let snap = self.snapshot();
        if let Some(pos) = snap.snap.listener_pos(id) {
            return Some((snap, pos));
        }
        let last = self.listeners.borrow().last_generation(id)?;
        let pos = last.snap.listener_pos(id)?;
        Some((last, pos))
    }

    /// The drain event of listener `id` (fired when a reload removes it or
    /// the shard stops); an already fired one if the shard does not run it.
    pub fn listener_drain(&self, id: ListenerId) -> LocalEvent {
        self.listeners.borrow().drain(id).unwrap_or_else(|| {
            let fired = LocalEvent::new();
            fired.set();
            fired
        })
    }

    /// This shard's entry in the server's per-shard counters.
    pub fn stats(&self) -> Option<&ShardCounters> {
        self.shared.stats.get(self.id)
    }

    /// The process handed its sockets to a successor (ADR 19).
    pub fn retiring(&self) -> bool {
        self.shared.retiring.load(Ordering::Relaxed)
    }

    pub fn stopping(&self) -> bool {
        self.shutdown.is_set() || self.shared.stopping.load(Ordering::Relaxed)
    }

    pub fn date_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.date.borrow_mut().get(SystemTime::now()))
    }

    /// Returns a buffer to the pool it came from (by its capacity).
    pub fn give_buffer(&self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap == self.stream_buffers.buffer_size() {
            self.stream_buffers.give(buf);
        } else if cap == self.small_buffers.buffer_size() {
            self.small_buffers.give(buf);
        } else {
            self.buffers.give(buf);
        }
    }

    /// Shrinks the buffer and pipe pools after a burst; gives the memory
    /// back to the kernel when at least 1 MiB was freed (see
    /// `BufferPool::trim`).
    pub fn trim_buffers(&self) {
        self.pipes.trim();
        let freed = self.buffers.trim()
            + self.stream_buffers.trim()
            + self.small_buffers.trim()
            + self.tls_buffers.trim();
        if freed >= 1 << 20 {
            shardgate_net::release_free_memory();
        }
    }

    /// Drops idle upstream connections past their (jittered) deadline or to
    /// servers marked down, reports the pools to the process-wide metrics,
    /// and publishes each server's figures for `/upstreams` (`upstream::tend`).
    pub fn evict_idle(&self) {
        let now = Instant::now();
        for u in &self.current.borrow().upstreams {
            u.tend(self.id, now);
        }
    }

    /// Moves the rate-limit tables' eviction counts into the metrics.
    pub fn publish_rate_limits(&self) {
        let current = self.current.borrow();
        current
            .snap
            .rate_limits
            .publish_evictions(self.id, &current.rate_limit_evictions);
    }

    /// Publishes the in-flight gauges of the shard and its routes (from the
    /// 1 s tick).
    pub fn publish_in_flight(&self) {
        self.flight.publish();
        for r in &self.current.borrow().route_flight {
            r.publish();
        }
    }

    /// Writes `rq`'s access log line into this shard's buffer (never waits:
    /// a line that finds no room is dropped and counted).
    pub fn access_line(&self, snap: &ShardSnap, rq: &RequestCtx, status: u16, took: Duration) {
        let Some(cfg) = &snap.snap.config.access_log else {
            return;
        };
        let mut slot = self.access_log.borrow_mut();
        if slot.is_none() {
            *slot = self.shared.access_log.get().map(|s| s.shard_log(self.id));
        }
        let Some(log) = slot.as_mut() else {
            return;
        };
        let config = &snap.snap.config;
        let route = rq
            .route
            .and_then(|r| config.routes.get(r))
            .map_or(NO_ROUTE, |r| r.name.as_str());
        let upstream = rq
            .upstream
            .and_then(|u| config.upstreams.get(u))
            .map_or("", |u| u.name.as_str());
        let line = access::Line {
            rq,
            status,
            took,
            route,
            upstream,
        };
        log.line(|out| access::write(out, cfg.format, &line));
    }

    /// Hands buffered access-log lines to the writer (every tick, and at stop).
    pub fn flush_access_log(&self) {
        if let Some(log) = self.access_log.borrow_mut().as_mut() {
            log.flush();
        }
    }

    /// The metric handles of route `idx` (or of "no route").
    pub fn route_metrics<'a>(
        &'a self,
        snap: &'a ShardSnap,
        idx: Option<usize>,
    ) -> &'a RouteMetrics {
        idx.and_then(|i| snap.routes.get(i))
            .unwrap_or(&self.no_route)
    }
}

/// A seed from the OS's entropy source; if that fails (it does not on Linux
/// ≥ 3.17), the clock and the shard index, which still differ per process.
pub(crate) fn os_seed(shard: usize) -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        nanos ^ (std::process::id() as u64).rotate_left(32) ^ shard as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_come_from_the_os_not_the_shard_index() {
        // The old seed was a constant per shard index: every process drew the
        // same jitter. Two seeds for the same index now differ.
        assert_ne!(os_seed(0), os_seed(0));
    }
}
