//! Select: a server and a connection for the next attempt, and the rule for
//! whether a failed attempt may be repeated.

use std::cell::RefCell;

use shardgate_config::UpstreamConfig;
use shardgate_proxy::{Error, Rng};

use super::RequestCtx;
use crate::upstream::{acquire, UpConn, UpstreamState};

/// Attempts per request: the first, and one retry of the keep-alive race.
const MAX_ATTEMPTS: u8 = 2;

/// Acquires a connection for the next attempt and records it in `rq`.
pub async fn select(
    rq: &mut RequestCtx,
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    rng: &RefCell<Rng>,
    replayable: bool,
) -> Result<UpConn, Error> {
    let fresh_only = rq.attempts > 0;
    match acquire(ust, ucfg, rng, fresh_only, replayable, rq.hash).await {
        Ok(a) => {
            rq.attempts += 1;
            rq.reused = a.reused;
            rq.server = a.conn.server().map(|s| s.addr);
            if a.connect.is_some() {
                rq.connect = a.connect;
            }
            ust.metrics.requests.increment(1);
            Ok(a.conn)
        }
        Err(f) => {
            ust.metrics.failures.increment(1);
            if f.server.is_some() {
                rq.server = f.server;
            }
            Err(f.error)
        }
    }
}

/// Accounts a failed attempt on the upstream's metrics and its server's
/// health (backoff, outlier detection) and says whether it is sent again
/// (`should_retry`).
pub fn retry_after(rq: &RequestCtx, ust: &UpstreamState, e: &Error, rng: &RefCell<Rng>) -> bool {
    if e.side() == shardgate_proxy::Side::Upstream {
        ust.metrics.failures.increment(1);
    }
    ust.attempt_failed(rq.server, e, rq.reused, rng);
    let again = should_retry(rq, e);
    if again {
        ust.metrics.retries.increment(1);
    }
    again
}

/// Whether a failed attempt is sent again on a fresh connection: only when
/// the error says resending is safe (nothing reached the origin, or the
/// request is idempotent and body-less), the connection came from the pool
/// (the keep-alive race: the origin closed it as we reused it), and no
/// attempt was retried yet (ADR 4).
fn should_retry(rq: &RequestCtx, e: &Error) -> bool {
    e.retry_safe() && rq.reused && !rq.response_started && rq.attempts < MAX_ATTEMPTS
}
