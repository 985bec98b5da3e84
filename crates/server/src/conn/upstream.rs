//! Getting a connection to an upstream server: balancer pick, pooled connection
//! (checked for a peer close before reuse), else a new connect with timeout and
//! optional TCP Fast Open. Connect failures feed passive health, and the next
//! server is tried: nothing has been sent yet, so that retry is always safe.

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::{TcpConnectOpts, TcpStream};
use shardgate_config::UpstreamConfig;
use shardgate_net::{peek_state, PeerState};

use crate::shard::upstreams::{ServerState, UpstreamState};
use crate::shard::ShardCtx;

/// An open upstream connection. Counts itself in its server's open-connection
/// total for as long as it lives, which is what `max_conns_per_host` limits.
pub struct UpConn {
    pub stream: TcpStream,
    pub server: Rc<ServerState>,
    /// When it last went back to the pool.
    idle_since: Instant,
    _open: OpenGuard,
}

/// A pooled connection idle for less than this (10 ms) is reused without the
/// `MSG_PEEK` check when the request may be retried. Under load a connection
/// is reused microseconds after its last response, before any server closes an
/// idle connection or sends a stray `408`; if it did die anyway, the request
/// is replayable and the retry rule (ADR 4) sends it again on a fresh
/// connection. Requests that must not be replayed always get the check.
const RECENT: Duration = Duration::from_millis(10);

/// Decrements the server's open-connection count when the connection goes.
pub struct OpenGuard(Rc<Cell<usize>>);

impl OpenGuard {
    fn new(open: &Rc<Cell<usize>>) -> Self {
        open.set(open.get() + 1);
        Self(open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFail {
    Refused,
    Timeout,
    /// Every server is at `max_conns_per_host` (or the upstream has none).
    NoCapacity,
}

impl ConnectFail {
    pub fn status(self) -> u16 {
        match self {
            ConnectFail::Refused => 502,
            ConnectFail::Timeout => 504,
            ConnectFail::NoCapacity => 503,
        }
    }
}

/// A connection and whether it came from the pool. `replayable`: the request
/// may be sent again if the pooled connection turns out dead.
pub async fn acquire(
    ctx: &ShardCtx,
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    fresh_only: bool,
    replayable: bool,
) -> Result<(UpConn, bool), ConnectFail> {
    let mut last = ConnectFail::NoCapacity;
    for _ in 0..ust.servers.len() {
        let now = Instant::now();
        let pick = {
            let mut b = ust.balancer.borrow_mut();
            b.pick(|i| {
                ust.servers
                    .get(i)
                    .is_some_and(|s| s.health.borrow().is_available(now))
            })
            // Every server is backing off: try one anyway rather than fail
            // without trying (a recovered server is then found at once).
            .or_else(|| b.pick(|_| true))
        };
        let Some(server) = pick.and_then(|i| ust.servers.get(i)) else {
            break;
        };
        if !fresh_only {
            if let Some(conn) = checkout_live(server, now, replayable) {
                ctx.metrics.upstream_reused.increment(1);
                return Ok((conn, true));
            }
        }
        let max = server.max_conns();
        if max > 0 && server.open.get() >= max {
            last = ConnectFail::NoCapacity;
            continue;
        }
        let opts = TcpConnectOpts::default().tcp_fast_open(ucfg.tcp_fast_open);
        ctx.metrics.upstream_connects.increment(1);
        let res = monoio::time::timeout(
            ucfg.connect_timeout,
            TcpStream::connect_addr_with_config(server.addr, &opts),
        )
        .await;
        match res {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                server.health.borrow_mut().record_success();
                return Ok((
                    UpConn {
                        stream,
                        server: server.clone(),
                        idle_since: now,
                        _open: OpenGuard::new(&server.open),
                    },
                    false,
                ));
            }
            Ok(Err(e)) => {
                tracing::debug!(upstream = %ust.name, server = %server.addr, error = %e, "connect failed");
                last = ConnectFail::Refused;
            }
            Err(_) => {
                tracing::debug!(upstream = %ust.name, server = %server.addr, "connect timed out");
                last = ConnectFail::Timeout;
            }
        }
        ctx.metrics.upstream_connect_errors.increment(1);
        let mut rng = ctx.rng.borrow_mut();
        server
            .health
            .borrow_mut()
            .record_failure(Instant::now(), &ust.backoff, &mut rng);
    }
    Err(last)
}

/// The most recently used pooled connection that is still open and quiet.
fn checkout_live(server: &ServerState, now: Instant, replayable: bool) -> Option<UpConn> {
    loop {
        let conn = server.pool.borrow_mut().checkout(now)?;
        if replayable && now.saturating_duration_since(conn.idle_since) < RECENT {
            return Some(conn);
        }
        match peek_state(conn.stream.as_raw_fd()) {
            PeerState::Idle => return Some(conn),
            // Closed by the peer, or it sent bytes nobody asked for: not reusable.
            PeerState::Closed | PeerState::HasData => drop(conn),
        }
    }
}

/// Returns a finished connection to its pool (or closes it when the pool is full).
pub fn release(ctx: &ShardCtx, mut conn: UpConn) {
    let server = conn.server.clone();
    let mut rng = ctx.rng.borrow_mut();
    let now = Instant::now();
    conn.idle_since = now;
    let res = server.pool.borrow_mut().checkin(conn, now, &mut rng);
    drop(res);
}
