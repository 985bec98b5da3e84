//! One upstream server as a shard sees it, and the connections to it in each
//! state of the pool's state machine (`shardgate_proxy::ConnState`): idle
//! ones in its pool ([`IdleConn`], which point at nothing), held ones
//! ([`UpConn`], `Busy` or `Draining`) owned by their request, and requests
//! waiting for one ([`Handoff`]).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use shardgate_config::PoolConfig;
use shardgate_proxy::{ConnState, Pool, PoolCounts, ServerHealth};

use super::load::{Attempt, ServerLoad};
use super::shared::{millis, ServerShared, ShardFigures};
use super::stream::UpStream;
use super::tls::TlsLog;
use super::wait::Waiters;
use crate::metrics::PoolGauges;

pub struct ServerState {
    pub addr: SocketAddr,
    /// The host name the address was resolved from, if any.
    host: Option<Box<str>>,
    pub pool: RefCell<Pool<IdleConn>>,
    /// This shard's reconnect backoff for the server.
    pub health: RefCell<ServerHealth>,
    /// What the load-aware balancers read (this shard's view).
    pub load: Rc<ServerLoad>,
    /// The process-wide part: active check, outlier state, published figures.
    pub shared: Arc<ServerShared>,
    /// The pool settings in force (a reload may change them in place).
    pub(super) pool_config: RefCell<PoolConfig>,
    /// Requests waiting for a connection (`max_pending`).
    pub(super) waiters: RefCell<Waiters<Handoff>>,
    gauges: PoolGauges,
    /// Dropped from the config by a reload: take no new requests, keep no
    /// idle connections.
    retired: Cell<bool>,
    /// TLS failures of this server, for the rate-limited log.
    pub(super) tls_log: Rc<TlsLog>,
}

impl ServerState {
    pub(super) fn new(shared: Arc<ServerShared>, host: Option<&str>, pool: &PoolConfig) -> Self {
        ServerState {
            gauges: PoolGauges::new(&shared.upstream, shared.addr),
            addr: shared.addr,
            host: host.map(Box::from),
            tls_log: Rc::new(TlsLog::new(shared.addr)),
            pool: RefCell::new(Pool::new(pool)),
            health: RefCell::new(ServerHealth::new()),
            load: Rc::new(ServerLoad::new(Instant::now())),
            shared,
            pool_config: RefCell::new(pool.clone()),
            waiters: RefCell::new(Waiters::default()),
            retired: Cell::new(false),
        }
    }

    /// Applies changed pool settings, keeping the pooled connections.
    pub(super) fn reconfigure(&self, pool: &PoolConfig) {
        if *self.pool_config.borrow() != *pool {
            self.pool.borrow_mut().reconfigure(pool);
            *self.pool_config.borrow_mut() = pool.clone();
        }
    }

    /// Closes the idle connections now; busy ones close when released, and
    /// waiting requests look for another server.
    pub(super) fn retire(&self) {
        self.retired.set(true);
        self.pool.borrow_mut().clear_idle();
        let waiting = self.waiters.borrow_mut().take_all();
        for slot in waiting {
            slot.fill(Handoff::Gone);
        }
    }

    pub fn is_retired(&self) -> bool {
        self.retired.get()
    }

    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// Whether the balancer may pick the server now: this shard is not
    /// backing off from it, its active check is not failing and it is not
    /// ejected (`now_ms` is `now` as [`millis`]). The process-wide part is
    /// two relaxed loads.
    pub fn is_available(&self, now: Instant, now_ms: u64) -> bool {
        self.shared.is_healthy(now_ms) && self.health.borrow().is_available(now)
    }

    /// Writes this shard's pool and backoff figures into the shared state,
    /// for `/upstreams` (from the shard's once-a-second pool sweep).
    pub fn publish(&self, shard: usize) {
        let c = self.conn_counts();
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        let health = self.health.borrow();
        self.shared.publish(
            shard,
            ShardFigures {
                idle: n(c.idle),
                busy: n(c.busy),
                draining: n(c.draining),
                backoff_failures: health.consecutive_failures(),
                backoff_until: health.down_until().map_or(0, millis),
            },
        );
    }

    /// Connections per state; a retired server's held connections are all
    /// draining.
    pub fn conn_counts(&self) -> PoolCounts {
        let mut c = self.pool.borrow().counts();
        if self.is_retired() {
            c.draining += c.busy;
            c.busy = 0;
        }
        c
    }

    /// Drops idle connections past their deadline and reports the pool to
    /// the process-wide metrics (the shard's 1 s timer).
    pub fn tend(&self, now: Instant) {
        let stats = {
            let mut pool = self.pool.borrow_mut();
            pool.evict_expired(now);
            pool.stats()
        };
        self.gauges.publish(self.conn_counts(), stats);
    }

    /// A held connection closed: uncount it, and give the freed slot to the
    /// oldest waiting request as a permit to open a new one.
    pub(super) fn on_closed(self: &Rc<Self>, was: ConnState) {
        // Never re-entrant: the pool and the queue are only borrowed in short
        // synchronous sections that do not drop held connections.
        {
            let Ok(mut pool) = self.pool.try_borrow_mut() else {
                return;
            };
            pool.on_close(was);
            if self.is_retired() || !pool.may_open() {
                return;
            }
        }
        let Some(slot) = self
            .waiters
            .try_borrow_mut()
            .ok()
            .and_then(|mut w| w.pop_live())
        else {
            return;
        };
        // The permit counts as open from here: nobody else can take it.
        slot.fill(Handoff::Permit(OpenGuard::reserve(self)));
    }

    /// A clean connection back from a request: to the oldest waiting
    /// request, else `Err` (the caller pools it).
    pub(super) fn hand_over(&self, conn: UpConn) -> Result<(), UpConn> {
        let Some(slot) = self.waiters.borrow_mut().pop_live() else {
            return Err(conn);
        };
        slot.fill(Handoff::Conn(conn));
        Ok(())
    }
}

/// What a request waiting for a connection receives.
pub(super) enum Handoff {
    /// A connection a request just finished with (busy, counted open).
    Conn(UpConn),
    /// The right to open a new connection (counted open already).
    Permit(OpenGuard),
    /// The server was retired by a reload: look elsewhere.
    Gone,
}

/// A connection a request holds. Counted open in its server's pool until it
/// is dropped (closed) or released back to the pool.
pub struct UpConn {
    pub stream: UpStream,
    pub(super) open: OpenGuard,
    /// The request's attempt, counted in the server's load while it holds
    /// the connection.
    pub(super) attempt: Attempt,
}

impl UpConn {
    pub(super) fn new(stream: UpStream, open: OpenGuard) -> Self {
        UpConn {
            stream,
            open,
            attempt: Attempt::none(),
        }
    }

    /// The final response head of the attempt arrived (for the load-aware
    /// balancers; nothing to do for the others).
    pub fn answered(&mut self, status: u16) {
        self.attempt.answered(status);
    }

    /// The server this connection goes to.
    pub fn server(&self) -> Option<&Rc<ServerState>> {
        self.open.server.as_ref()
    }

    /// This connection will not be reused (the origin said
    /// `Connection: close`): it closes when its request ends.
    pub fn drain(&mut self) {
        if self.open.state == ConnState::Busy {
            self.open.state = ConnState::Draining;
            if let Some(s) = &self.open.server {
                s.pool.borrow_mut().on_drain();
            }
        }
    }

    pub fn is_draining(&self) -> bool {
        self.open.state == ConnState::Draining
    }
}

/// One open connection (or the right to open one) counted in its server's
/// pool. Dropping it reports the close, which may hand the freed slot to a
/// waiting request. Disarmed (taken) when the connection goes back into the
/// pool, which then counts it itself.
pub struct OpenGuard {
    pub(super) server: Option<Rc<ServerState>>,
    pub(super) state: ConnState,
}

impl OpenGuard {
    /// Counts a connection about to be opened (before the connect, so
    /// concurrent connects cannot overshoot `max_conns_per_host`).
    pub(super) fn reserve(server: &Rc<ServerState>) -> Self {
        server.pool.borrow_mut().on_open();
        OpenGuard::counted(server.clone())
    }

    /// A connection already counted open (checked out of the pool, or a
    /// permit handed over).
    pub(super) fn counted(server: Rc<ServerState>) -> Self {
        OpenGuard {
            server: Some(server),
            state: ConnState::Busy,
        }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.on_closed(self.state);
        }
    }
}

/// What the pool keeps: the socket and when it went idle. It holds no
/// reference to the server, so a pool never keeps its owner alive.
pub struct IdleConn {
    pub(super) stream: UpStream,
    pub(super) since: Instant,
}
