//! Getting a connection to an upstream server for a request, and giving it
//! back: balancer pick, pooled connection (checked for a peer close before
//! reuse), else a new connect with timeout and optional TCP Fast Open, else a
//! place in the server's queue of waiters. Connect failures feed passive
//! health; whether the next server is tried is the request's retry rule
//! (`lifecycle::select`), which bounds and counts it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardgate_config::UpstreamConfig;
use shardgate_proxy::{ConnState, Error, ErrorKind, Rng};

use super::build::UpstreamState;
use super::connect::connect;
use super::load::Attempt;
use super::pick::pick;
use super::server::{Handoff, IdleConn, OpenGuard, ServerState, UpConn};
use super::tried::Tried;

/// A pooled connection idle for less than this (10 ms) is reused without the
/// `MSG_PEEK` check when the request may be retried. Under load a connection
/// is reused microseconds after its last response, before any server closes an
/// idle connection or sends a stray `408`; if it did die anyway, the request
/// is replayable and the retry rule (ADR 4) sends it again on a fresh
/// connection. Requests that must not be replayed always get the check.
const RECENT: Duration = Duration::from_millis(10);

/// No connection: why, and the last server tried (for the log).
pub struct Failed {
    pub error: Error,
    pub server: Option<std::net::SocketAddr>,
    /// The server whose connect failed (None: no connect was tried).
    pub index: Option<usize>,
}

/// A connection for one attempt.
pub struct Acquired {
    pub conn: UpConn,
    /// The server's index in the upstream.
    pub index: usize,
    /// It came from the pool (so it may have died while idle).
    pub reused: bool,
    /// How long the TCP connect took (None for a pooled connection).
    pub connect: Option<Duration>,
}

/// How to get a connection: which servers the request tried already, and
/// what the retry rule and the balancer need.
#[derive(Clone, Copy)]
pub struct Want {
    /// Servers not to pick (the request tried them).
    pub tried: Tried,
    /// Skip the pool: a retry after a pooled connection died.
    pub fresh_only: bool,
    /// The request may be sent again if a pooled connection turns out dead.
    pub replayable: bool,
    /// The route's or upstream's `connect_timeout`, cut to what is left of
    /// the total.
    pub connect_timeout: Duration,
    /// The request's consistent-hash key.
    pub key: Option<u64>,
}

/// A connection to one of `ust`'s servers not in `want.tried`.
///
/// At most one connect per call: a failed connect is returned with its
/// server, and the request's retry rule decides whether another server is
/// tried (and counts it). A server at `max_conns_per_host`, or with requests
/// already waiting for it, is passed over for the next pick without counting
/// as tried; when no server can give a connection at once, the request waits
/// for the first such server (`max_pending`, `pending_timeout`).
pub async fn acquire(
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    rng: &RefCell<Rng>,
    want: Want,
) -> Result<Acquired, Failed> {
    let mut last = Error::new(ErrorKind::NoUpstreamAvailable);
    let mut named = None;
    // A second round only when a reload retired the server the request
    // waited for: the wait must not turn into a 503 while others remain.
    for _round in 0..2 {
        let mut skip = want.tried;
        let mut full: Option<(usize, &Rc<ServerState>)> = None;
        for _ in 0..ust.servers.len() {
            let now = Instant::now();
            let Some((index, server)) = pick(ust, now, want.key, rng, skip) else {
                break;
            };
            skip.add(index);
            if server.is_retired() {
                continue;
            }
            named = Some(server.addr);
            // Counted in the server's load from here, connect included, so
            // picks during the connect see it (dropped if no connection
            // comes from this server).
            let attempt = Attempt::start(&server.load, ust.load_use, now);
            // Requests already waiting for this server go first.
            let queued = !server.waiters.borrow().is_empty();
            if !want.fresh_only && !queued {
                if let Some(conn) = checkout_live(server, now, want.replayable) {
                    ust.metrics.reused.increment(1);
                    return Ok(counting(
                        Acquired {
                            conn,
                            index,
                            reused: true,
                            connect: None,
                        },
                        attempt,
                    ));
                }
            }
            if queued || !server.pool.borrow().may_open() {
                full.get_or_insert((index, server));
                continue;
            }
            let slot = OpenGuard::reserve(server);
            return match open(ust, ucfg, rng, slot, index, want.connect_timeout).await {
                Ok(a) => Ok(counting(a, attempt)),
                Err(error) => Err(Failed {
                    error,
                    server: named,
                    index: Some(index),
                }),
            };
        }
        let Some((index, server)) = full else {
            break;
        };
        named = Some(server.addr);
        // A request waiting for a server is load on it too.
        let attempt = Attempt::start(&server.load, ust.load_use, Instant::now());
        match queue(ust, ucfg, rng, (index, server), want).await {
            Ok(a) => return Ok(counting(a, attempt)),
            Err(e) if e.kind() == ErrorKind::NoUpstreamAvailable => last = e,
            Err(e) => {
                // A connect after the wait failed like any other.
                let connected = matches!(
                    e.kind(),
                    ErrorKind::UpstreamConnectRefused
                        | ErrorKind::UpstreamConnectTimeout
                        | ErrorKind::UpstreamTls
                );
                return Err(Failed {
                    error: e,
                    server: named,
                    index: connected.then_some(index),
                });
            }
        }
    }
    Err(Failed {
        error: last,
        server: named,
        index: None,
    })
}

/// `a` now carries the request's `attempt` (counted since the pick).
fn counting(mut a: Acquired, attempt: Attempt) -> Acquired {
    a.conn.attempt = attempt;
    a
}

/// Connects to `open`'s server (the slot is already counted) within
/// `timeout`; a failure feeds passive health.
async fn open(
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    rng: &RefCell<Rng>,
    open: OpenGuard,
    index: usize,
    timeout: Duration,
) -> Result<Acquired, Error> {
    let Some(server) = open.server.clone() else {
        return Err(Error::new(ErrorKind::Internal));
    };
    let started = Instant::now();
    ust.metrics.connects.increment(1);
    match connect(&server, ust, ucfg, timeout).await {
        Ok(stream) => {
            // The backoff streak ends with a response, not a connect: a
            // server that accepts and then resets is failing too
            // (`UpstreamState::answered`).
            let took = started.elapsed();
            ust.metrics.connect_seconds.record(took.as_secs_f64());
            Ok(Acquired {
                conn: UpConn::new(stream, open),
                index,
                reused: false,
                connect: Some(took),
            })
        }
        Err(e) => {
            tracing::debug!(upstream = %ust.name, server = %server.addr, error = %e.kind(), errno = ?e.errno(), "connect failed");
            // Closes the reserved slot (which may go to a waiter) before
            // the health update.
            drop(open);
            ust.metrics.connect_errors.increment(1);
            server.health.borrow_mut().record_failure(
                Instant::now(),
                &ust.backoff,
                &mut rng.borrow_mut(),
            );
            ust.outlier_failure(&server, Instant::now());
            Err(e)
        }
    }
}

/// Waits in `server`'s queue for a connection someone releases, or for the
/// right to open one; 503 when the queue is full or the wait times out.
async fn queue(
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    rng: &RefCell<Rng>,
    (index, server): (usize, &Rc<ServerState>),
    want: Want,
) -> Result<Acquired, Error> {
    let (max, timeout) = {
        let c = server.pool_config.borrow();
        (c.max_pending, c.pending_timeout)
    };
    let Some(slot) = server.waiters.borrow_mut().push(max) else {
        ust.metrics.pending_rejected.increment(1);
        return Err(Error::new(ErrorKind::PoolQueueFull));
    };
    ust.metrics.pending.increment(1.0);
    let waited = monoio::time::timeout(timeout, slot.wait()).await;
    ust.metrics.pending.decrement(1.0);
    // Out of the queue whatever happened; something handed over just as the
    // wait timed out is dropped here, which passes a freed slot on.
    server.waiters.borrow_mut().remove(&slot);
    drop(slot.take());
    match waited {
        Err(_) => {
            ust.metrics.pending_timeouts.increment(1);
            Err(Error::new(ErrorKind::PoolQueueTimeout))
        }
        Ok(Handoff::Gone) => Err(Error::new(ErrorKind::NoUpstreamAvailable)),
        Ok(Handoff::Permit(permit)) => {
            open(ust, ucfg, rng, permit, index, want.connect_timeout).await
        }
        Ok(Handoff::Conn(conn)) => {
            // Released microseconds ago, so as recent as a pooled connection
            // can be; the same liveness rule applies.
            if conn.stream.reusable(!want.replayable) {
                ust.metrics.reused.increment(1);
                return Ok(Acquired {
                    conn,
                    index,
                    reused: true,
                    connect: None,
                });
            }
            let UpConn {
                stream, open: slot, ..
            } = conn;
            drop(stream);
            open(ust, ucfg, rng, slot, index, want.connect_timeout).await
        }
    }
}

/// The most recently used pooled connection that is still open and quiet.
fn checkout_live(server: &Rc<ServerState>, now: Instant, replayable: bool) -> Option<UpConn> {
    loop {
        let idle = server.pool.borrow_mut().checkout(now)?;
        let recent = replayable && now.saturating_duration_since(idle.since) < RECENT;
        // Closed by the peer, or it sent bytes nobody asked for: not reusable.
        let live = idle.stream.reusable(!recent);
        if live {
            return Some(UpConn::new(idle.stream, OpenGuard::counted(server.clone())));
        }
        // Checked out, so counted open: closing it must say so (and may give
        // the slot to a waiter).
        drop(idle);
        server.on_closed(ConnState::Busy);
    }
}

/// Returns a finished connection: to a request waiting for its server, else
/// to the pool; closed when it is draining, the pool is full or the server
/// was retired by a reload.
pub fn release(mut conn: UpConn, rng: &RefCell<Rng>) {
    // The request's attempt ends here, whatever becomes of the connection
    // (a waiting request that takes it over counts its own).
    conn.attempt = Attempt::none();
    let Some(server) = conn.server().cloned() else {
        return;
    };
    if conn.is_draining() || server.is_retired() {
        return;
    }
    let Err(conn) = server.hand_over(conn) else {
        return;
    };
    let UpConn {
        stream, mut open, ..
    } = conn;
    open.server = None;
    let now = Instant::now();
    let idle = IdleConn { stream, since: now };
    // A refused checkin was already uncounted by the pool; dropping it closes it.
    let refused = server
        .pool
        .borrow_mut()
        .checkin(idle, now, &mut rng.borrow_mut());
    drop(refused);
}
