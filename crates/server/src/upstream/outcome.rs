//! What an attempt's outcome does to its server's health: this shard's
//! reconnect backoff, the process-wide outlier count, and whether the
//! connection may be reused by a server marked down or ejected.
//!
//! Called where attempts end: a failed connect (`acquire`), an exchange that
//! failed on the upstream side (`lifecycle::retry_after`), and a response
//! head (the front ends' receive phase). A response costs a `RefCell` borrow
//! and three relaxed loads (a clock read only for a server that is down or
//! ejected); failures are rare and may write.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Instant;

use shardgate_proxy::{Error, ErrorKind, Rng, Side};

use super::build::UpstreamState;
use super::outlier::is_panic;
use super::server::{ServerState, UpConn};
use super::shared::millis;

impl UpstreamState {
    /// One failure of `server` for outlier detection (shared by all shards).
    pub fn outlier_failure(&self, server: &ServerState, now: Instant) {
        self.shared
            .record_failure(&server.shared, &self.outlier, millis(now));
    }

    /// An exchange with `server` (the address the request context recorded)
    /// failed with `e`. Upstream-side failures count for backoff and outlier
    /// detection, except a reset on a pooled connection: that is the
    /// keep-alive race (the origin closed an idle connection as it was
    /// reused), not the server failing, and the retry rule handles it.
    pub fn attempt_failed(
        &self,
        server: Option<SocketAddr>,
        e: &Error,
        reused: bool,
        rng: &RefCell<Rng>,
    ) {
        let kind = e.kind();
        if e.side() != Side::Upstream
            || kind == ErrorKind::NoUpstreamAvailable
            || (reused && kind == ErrorKind::UpstreamReset)
        {
            return;
        }
        let Some(server) = server.and_then(|a| self.servers.iter().find(|s| s.addr == a)) else {
            return;
        };
        let now = Instant::now();
        server
            .health
            .borrow_mut()
            .record_failure(now, &self.backoff, &mut rng.borrow_mut());
        self.outlier_failure(server, now);
    }

    /// The server of `up` answered with a response head of `status`. The
    /// connection works, so this shard's backoff streak ends; for outlier
    /// detection it is a success, or a failure when it is a 5xx and
    /// `on_5xx` is set. A server that is marked down or ejected (and not in
    /// use because of panic) gets no more requests on this connection: it
    /// drains (closes when this request ends).
    pub fn answered(&self, up: &mut UpConn, status: u16) {
        let Some(server) = up.server() else {
            return;
        };
        let backing_off = server.health.borrow().consecutive_failures() != 0;
        if backing_off {
            server.health.borrow_mut().record_success();
        }
        if self.outlier.on_5xx && status >= 500 {
            self.outlier_failure(server, Instant::now());
        } else {
            server.shared.record_success();
        }
        let drain = server.shared.maybe_unhealthy() && {
            let now_ms = millis(Instant::now());
            !server.shared.is_healthy(now_ms) && !self.in_panic(now_ms)
        };
        if drain {
            up.drain();
        }
    }

    /// Fewer than `panic_threshold` percent of the servers healthy now.
    pub fn in_panic(&self, now_ms: u64) -> bool {
        is_panic(
            self.shared.healthy(now_ms),
            self.servers.len(),
            self.outlier.panic_threshold,
        )
    }
}
