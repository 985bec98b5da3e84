//! Everything one shard owns. Lives in an `Rc` on the shard's thread; nothing here
//! is shared with another thread except the snapshot (`ArcSwap`) and the stop flag.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::Cache;
use shardgate_net::Poller;
use shardgate_proxy::{DateCache, Rng};

use super::upstreams::{self, UpstreamState};
use crate::buffers::BufferPool;
use crate::conn_table::ConnTable;
use crate::event::LocalEvent;
use crate::metrics::ShardMetrics;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::stats::ShardCounters;

/// The shard's current generation: the shared snapshot plus this shard's
/// upstream state built for it. Requests hold an `Rc` for their whole life, so a
/// reload never changes the rules under a request in flight.
pub struct ShardSnap {
    pub snap: Arc<Snapshot>,
    pub upstreams: Vec<UpstreamState>,
}

/// State shared by all shards of one server (control thread included).
pub struct Shared {
    pub snapshot: SharedSnapshot,
    pub stopping: AtomicBool,
    /// One entry per shard, written only by that shard.
    pub stats: Vec<ShardCounters>,
    /// The TLS ticket key, kept across reloads (see `tls`).
    pub ticketer: Arc<dyn rustls::server::ProducesTickets>,
    /// Set when `[access_log]` is on (at start or by a reload): shards take their `ShardLog` here.
    pub access_log: std::sync::OnceLock<crate::access_log::Sink>,
}

/// Size of a streaming buffer (see `ShardCtx::stream_buffers`).
const STREAM_BUFFER: usize = 64 * 1024;
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
    pub table: Rc<ConnTable>,
    /// Where parked connections' sockets wait (see `conn::park`).
    pub poller: RefCell<Poller>,
    pub shutdown: LocalEvent,
    date: RefCell<DateCache>,
    pub rng: RefCell<Rng>,
    pub metrics: ShardMetrics,
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
        let table = ConnTable::new(cfg.max_connections_per_shard);
        let upstreams = upstreams::build(&snap.config, &[]);
        let cache = Cache::new(shared.snapshot.clone());
        Ok(Rc::new(Self {
            id,
            poller,
            cache: RefCell::new(cache),
            current: RefCell::new(Rc::new(ShardSnap { snap, upstreams })),
            shared,
            buffers,
            stream_buffers,
            small_buffers,
            table,
            shutdown: LocalEvent::new(),
            date: RefCell::new(DateCache::new()),
            rng: RefCell::new(Rng::new(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1))),
            metrics: ShardMetrics::new(id),
        }))
    }

    /// The current generation; rebuilds the shard-local upstream state when the
    /// control thread has published a new snapshot since the last call.
    pub fn snapshot(&self) -> Rc<ShardSnap> {
        let mut cache = self.cache.borrow_mut();
        let latest = cache.load();
        let mut current = self.current.borrow_mut();
        if !Arc::ptr_eq(latest, &current.snap) {
            let upstreams = upstreams::build(&latest.config, &current.upstreams);
            *current = Rc::new(ShardSnap {
                snap: latest.clone(),
                upstreams,
            });
            tracing::info!(
                shard = self.id,
                generation = latest.generation,
                "config generation picked up"
            );
        }
        current.clone()
    }

    /// This shard's entry in the server's per-shard counters.
    pub fn stats(&self) -> Option<&ShardCounters> {
        self.shared.stats.get(self.id)
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

    /// Shrinks the buffer pools after a burst; gives the memory back to the
    /// kernel when at least 1 MiB was freed (see `BufferPool::trim`).
    pub fn trim_buffers(&self) {
        let freed = self.buffers.trim() + self.stream_buffers.trim() + self.small_buffers.trim();
        if freed >= 1 << 20 {
            shardgate_net::release_free_memory();
        }
    }

    /// Drops idle upstream connections past their (jittered) deadline.
    pub fn evict_idle(&self) {
        let now = Instant::now();
        for u in &self.current.borrow().upstreams {
            for s in &u.servers {
                s.pool.borrow_mut().evict_expired(now);
            }
        }
    }
}
