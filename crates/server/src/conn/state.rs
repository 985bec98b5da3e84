//! What a plain-TCP connection keeps between its tasks (request task, parked
//! in the lot), and the accounting when it ends.

use std::time::Instant;

use super::downstream::Downstream;
use crate::conn_table::Slot;
use crate::ctx::ShardCtx;
use crate::listeners::ListenerId;

pub struct Conn {
    pub down: Downstream,
    pub listener: ListenerId,
    pub slot: Slot,
    pub accepted: Instant,
    /// No request served yet: the header timeout applies to the first wait.
    pub first: bool,
}

/// How long an idle connection may wait for its next request: the header
/// timeout before its first one, the keep-alive timeout after.
pub(crate) fn idle_limit(ctx: &ShardCtx, first: bool) -> std::time::Duration {
    let t = &ctx.snapshot().snap.config.server.timeouts;
    if first {
        t.header_read
    } else {
        t.keepalive
    }
}

/// Counts a connection that went to the parking lot.
pub(crate) fn parked(ctx: &ShardCtx) {
    if let Some(s) = ctx.stats() {
        s.on_park();
    }
}

/// Accounting for a connection that ends; dropping the slot frees it.
pub(crate) fn closed(ctx: &ShardCtx, slot: Slot, accepted: Instant) {
    account_close(ctx, accepted);
    drop(slot);
}

/// The metrics and counters of a connection that ends.
pub(crate) fn account_close(ctx: &ShardCtx, accepted: Instant) {
    ctx.metrics.active.decrement(1.0);
    if let Some(s) = ctx.stats() {
        s.on_close();
    }
    ctx.metrics
        .connection_seconds
        .record(accepted.elapsed().as_secs_f64());
}
