//! Metrics of the cluster-wide (Redis) rate limits, per route, written by
//! the sync thread once per sync, never on the request path.

use metrics::{counter, gauge, Counter, Gauge};

pub const ERRORS: &str = "shardgate_rate_limit_redis_errors_total";
pub const FALLBACK: &str = "shardgate_rate_limit_redis_fallback";
pub const SYNCS: &str = "shardgate_rate_limit_redis_syncs_total";
pub const CHARGED: &str = "shardgate_rate_limit_redis_charged_total";

/// One redis-backed rule's handles (rules of one route share the series).
pub struct RedisSyncMetrics {
    /// Syncs that failed (connect, timeout, error reply).
    pub errors: Counter,
    /// 1 while the rule runs on its local limit alone (Redis unreachable).
    pub fallback: Gauge,
    /// Syncs that completed.
    pub syncs: Counter,
    /// Requests the other gateways admitted, charged to the local table.
    pub charged: Counter,
}

impl RedisSyncMetrics {
    pub fn new(route: &str) -> Self {
        let r = route.to_string();
        Self {
            errors: counter!(ERRORS, "route" => r.clone()),
            fallback: gauge!(FALLBACK, "route" => r.clone()),
            syncs: counter!(SYNCS, "route" => r.clone()),
            charged: counter!(CHARGED, "route" => r),
        }
    }
}
