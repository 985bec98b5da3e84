//! Select: a server and a connection for the next attempt, and the rule for
//! whether a failed attempt is sent again (ADR 4).
//!
//! A retry is let through when all of these hold:
//! - the failure is one `[route.retry] on` names (the keep-alive race always
//!   is): a failed connect, a reset before any response byte, or an origin's
//!   502/503/504 response head (our own timeouts never are: the origin may
//!   still be working on the request);
//! - what was taken from the client can be sent again: after a failed
//!   connect nothing reached the origin, so any request; after that only an
//!   idempotent one (RFC 9110 §9.2.2) with no body or its body kept whole;
//! - nothing of a response went to the client, tries are left (`attempts`
//!   counts the first), and the total timeout has not run out;
//! - a server is left that the balancer would take (healthy, or any in
//!   panic): untried ones first; when every such server was tried, one may
//!   take the request again, except after a failed connect (the server
//!   that refused is backing off);
//! - the upstream's retry budget allows it (else it is counted and the
//!   request keeps the failure or the response it had).

use std::cell::RefCell;
use std::time::Instant;

use shardgate_config::UpstreamConfig;
use shardgate_proxy::{Error, ErrorKind, Rng, Side};

use super::attempts::{within, Attempts};
use super::RequestCtx;
use crate::metrics::RetryReason;
use crate::upstream::{acquire, Tried, UpConn, UpstreamState, Want};

/// Acquires a connection for the next attempt and records it in `rq`.
/// `replayable`: the request may be sent again as a whole (idempotent, body
/// none or kept), so a pooled connection that dies can be retried.
pub async fn select(
    rq: &mut RequestCtx,
    ust: &UpstreamState,
    ucfg: &UpstreamConfig,
    rng: &RefCell<Rng>,
    plan: &Attempts<'_>,
    replayable: bool,
) -> Result<UpConn, Error> {
    let want = Want {
        tried: rq.tried,
        fresh_only: plan.fresh_only,
        // Only a request that would be retried may skip the pool's liveness
        // check.
        replayable: replayable && rq.retries.saturating_add(1) < plan.retry.attempts,
        connect_timeout: plan.connect_timeout(),
        key: rq.hash,
    };
    // Without a total timeout `acquire` is awaited where it is built: its
    // future is large (connect, TLS handshake, queue), and handing it to
    // `within` by value copies all of it per request.
    let left = plan.remaining();
    let got = match left {
        None => acquire(ust, ucfg, rng, want).await,
        Some(_) => within(left, async { Ok(acquire(ust, ucfg, rng, want).await) }).await?,
    };
    match got {
        Ok(a) => {
            rq.attempts += 1;
            rq.tried.add(a.index);
            rq.reused = a.reused;
            rq.server = a.conn.server().map(|s| s.addr);
            if a.connect.is_some() {
                rq.connect = a.connect;
            }
            ust.metrics.requests.increment(1);
            Ok(a.conn)
        }
        Err(f) => {
            if let Some(i) = f.index {
                rq.tried.add(i);
            }
            if f.server.is_some() {
                rq.server = f.server;
            }
            Err(f.error)
        }
    }
}

impl Attempts<'_> {
    /// Accounts a failed `select` (a connect that failed, whose server's
    /// health `acquire` recorded, or no connection at all) and says whether
    /// the request is sent again. `resendable`: everything taken from the
    /// client so far can be sent again (no body byte yet, or all of them
    /// kept).
    pub fn retry_after_select(&mut self, rq: &mut RequestCtx, e: &Error, resendable: bool) -> bool {
        if e.side() == Side::Upstream {
            self.ust.metrics.failures.increment(1);
        }
        self.decide(rq, e, resendable)
    }

    /// Accounts an exchange that failed before a response reached the
    /// client, on the upstream's metrics and its server's health (backoff,
    /// outlier detection), and says whether the request is sent again.
    pub fn retry_after(
        &mut self,
        rq: &mut RequestCtx,
        e: &Error,
        resendable: bool,
        rng: &RefCell<Rng>,
    ) -> bool {
        if e.side() == Side::Upstream {
            self.ust.metrics.failures.increment(1);
        }
        self.ust.attempt_failed(rq.server, e, rq.reused, rng);
        self.decide(rq, e, resendable)
    }

    fn decide(&mut self, rq: &mut RequestCtx, e: &Error, resendable: bool) -> bool {
        if !resendable || rq.response_started {
            return false;
        }
        let reason = match e.kind() {
            // A failed TLS handshake sent nothing of the request either.
            ErrorKind::UpstreamConnectRefused
            | ErrorKind::UpstreamConnectTimeout
            | ErrorKind::UpstreamTls => RetryReason::ConnectFailure,
            // Nothing came back, and the sender said the request may go
            // again (idempotent, body none or kept).
            ErrorKind::UpstreamReset if e.retry_safe() => {
                if rq.reused {
                    RetryReason::KeepAliveRace
                } else {
                    RetryReason::Reset
                }
            }
            _ => return false,
        };
        self.grant(rq, reason)
    }

    /// At an origin's final response head, before any of it went to the
    /// client: whether to drop it and send the request again. `replayable`:
    /// idempotent, with its body (if any) kept whole. When this says no, the
    /// response goes to the client as it is: the last attempt's answer is
    /// never dropped.
    pub fn retry_status(&mut self, rq: &mut RequestCtx, status: u16, replayable: bool) -> bool {
        let reason = match status {
            502 => RetryReason::Status502,
            503 => RetryReason::Status503,
            504 => RetryReason::Status504,
            _ => return false,
        };
        replayable && !rq.response_started && self.grant(rq, reason)
    }

    fn grant(&mut self, rq: &mut RequestCtx, reason: RetryReason) -> bool {
        let on = self.retry.on;
        let enabled = match reason {
            RetryReason::ConnectFailure => on.connect_failure,
            RetryReason::KeepAliveRace => true,
            RetryReason::Reset => on.reset,
            RetryReason::Status502 => on.status_502,
            RetryReason::Status503 => on.status_503,
            RetryReason::Status504 => on.status_504,
        };
        let tries = rq.retries.saturating_add(1);
        if !enabled || tries >= self.retry.attempts || self.expired() {
            return false;
        }
        // A server the balancer would take, not tried yet; else, except
        // after a failed connect (that server is backing off), any.
        let now = Instant::now();
        let all_tried = !self.ust.can_pick(rq.tried, now);
        if all_tried
            && (reason == RetryReason::ConnectFailure || !self.ust.can_pick(Tried::default(), now))
        {
            return false;
        }
        if !self.ust.budget.allow(&self.budget, self.retrying) {
            self.ust.metrics.retry_budget_exhausted.increment(1);
            return false;
        }
        if all_tried {
            // Every server had the request: any of them may take it again.
            rq.tried = Tried::default();
        }
        rq.retries = tries;
        self.retrying = true;
        self.fresh_only = reason == RetryReason::KeepAliveRace;
        self.ust.metrics.retried(reason);
        true
    }
}
