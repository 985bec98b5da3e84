//! Getting a connection to an upstream server for a request, and giving it
//! back: balancer pick, pooled connection (checked for a peer close before
//! reuse), else a new connect with timeout and optional TCP Fast Open. Connect
//! failures feed passive health and the next server is tried: nothing has been
//! sent yet, so that retry is always safe.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardgate_config::UpstreamConfig;
use shardgate_net::{peek_state, PeerState};
use shardgate_proxy::{Error, ErrorKind, Rng};

use super::build::UpstreamState;
use super::conn::{OpenGuard, UpConn};
use super::connect::connect;
use super::pick::pick;
use super::server::{IdleConn, ServerState};

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
}

/// A connection for one attempt.
pub struct Acquired {
    pub conn: UpConn,
    /// It came from the pool (so it may have died while idle).
    pub reused: bool,
    /// How long the TCP connect took (None for a pooled connection).
    pub connect: Option<Duration>,
}

/// A connection to one of `ust`'s servers. `fresh_only`: skip the pool (a
/// retry after a pooled connection died). `replayable`: the request may be
/// sent again if a pooled connection turns out dead.
pub async fn acquire(
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    rng: &RefCell<Rng>,
    fresh_only: bool,
    replayable: bool,
) -> Result<Acquired, Failed> {
    let mut last = Error::new(ErrorKind::NoUpstreamAvailable);
    let mut tried = None;
    for _ in 0..ust.servers.len() {
        let now = Instant::now();
        let Some(server) = pick(ust, now) else {
            break;
        };
        tried = Some(server.addr);
        if !fresh_only {
            if let Some(conn) = checkout_live(server, now, replayable) {
                ust.metrics.reused.increment(1);
                return Ok(Acquired {
                    conn,
                    reused: true,
                    connect: None,
                });
            }
        }
        if !server.pool.borrow().may_open() {
            last = Error::new(ErrorKind::NoUpstreamAvailable);
            continue;
        }
        ust.metrics.connects.increment(1);
        match connect(server, ucfg).await {
            Ok(stream) => {
                server.health.borrow_mut().record_success();
                let took = now.elapsed();
                ust.metrics.connect_seconds.record(took.as_secs_f64());
                return Ok(Acquired {
                    conn: UpConn::new(stream, server),
                    reused: false,
                    connect: Some(took),
                });
            }
            Err(e) => {
                tracing::debug!(upstream = %ust.name, server = %server.addr, error = %e.kind(), errno = ?e.errno(), "connect failed");
                last = e;
            }
        }
        ust.metrics.connect_errors.increment(1);
        server.health.borrow_mut().record_failure(
            Instant::now(),
            &ust.backoff,
            &mut rng.borrow_mut(),
        );
    }
    Err(Failed {
        error: last,
        server: tried,
    })
}

/// The most recently used pooled connection that is still open and quiet.
fn checkout_live(server: &Rc<ServerState>, now: Instant, replayable: bool) -> Option<UpConn> {
    loop {
        let idle = server.pool.borrow_mut().checkout(now)?;
        let live = (replayable && now.saturating_duration_since(idle.since) < RECENT)
            // Closed by the peer, or it sent bytes nobody asked for: not reusable.
            || peek_state(idle.stream.as_raw_fd()) == PeerState::Idle;
        if live {
            return Some(UpConn {
                stream: idle.stream,
                open: OpenGuard {
                    server: Some(server.clone()),
                },
            });
        }
        // Checked out, so counted open again: dropping it must say so.
        server.pool.borrow_mut().on_close();
    }
}

/// Returns a finished connection to its server's pool, or closes it when the
/// pool is full or the server was retired by a reload.
pub fn release(conn: UpConn, rng: &RefCell<Rng>) {
    let UpConn { stream, mut open } = conn;
    let Some(server) = open.server.take() else {
        return;
    };
    let mut pool = server.pool.borrow_mut();
    if server.is_retired() {
        pool.on_close();
        return;
    }
    let now = Instant::now();
    let idle = IdleConn { stream, since: now };
    // A refused checkin was already uncounted by the pool; dropping it closes it.
    let _ = pool.checkin(idle, now, &mut rng.borrow_mut());
}
