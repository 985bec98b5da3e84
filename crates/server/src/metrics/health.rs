//! Process-wide health metric handles: one set per upstream server (not per
//! shard: active checks, ejections and panic are one state per process),
//! registered on the control thread when a config generation first names the
//! server. Written only on state changes and probes, never per request.

use metrics::{counter, gauge, Counter, Gauge};

pub const TRANSITIONS: &str = "shardgate_upstream_health_transitions_total";
pub const ACTIVE_HEALTHY: &str = "shardgate_upstream_active_healthy";
pub const EJECTED: &str = "shardgate_upstream_ejected";
pub const PROBES: &str = "shardgate_upstream_health_probes_total";
pub const PANIC: &str = "shardgate_upstream_panic";
pub const PANIC_TRANSITIONS: &str = "shardgate_upstream_panic_transitions_total";

/// One server's health metrics.
pub struct ServerHealthMetrics {
    /// Active check: the server went down / came back up.
    pub went_down: Counter,
    pub went_up: Counter,
    /// Outlier detection: the server was ejected / returned.
    pub ejected: Counter,
    pub returned: Counter,
    /// 1 while the active check passes (or there is none), 0 while it fails.
    pub active_healthy: Gauge,
    /// 1 while ejected.
    pub ejected_now: Gauge,
    pub probes_ok: Counter,
    pub probes_failed: Counter,
}

impl ServerHealthMetrics {
    pub fn new(upstream: &str, server: &str) -> Self {
        let u = upstream.to_string();
        let s = server.to_string();
        let transition = |kind: &'static str, to: &'static str| counter!(TRANSITIONS, "upstream" => u.clone(), "server" => s.clone(), "kind" => kind, "to" => to);
        let probes = |result: &'static str| counter!(PROBES, "upstream" => u.clone(), "server" => s.clone(), "result" => result);
        let labels = [("upstream", u.clone()), ("server", s.clone())];
        Self {
            went_down: transition("active", "down"),
            went_up: transition("active", "up"),
            ejected: transition("outlier", "ejected"),
            returned: transition("outlier", "returned"),
            active_healthy: gauge!(ACTIVE_HEALTHY, &labels),
            ejected_now: gauge!(EJECTED, &labels),
            probes_ok: probes("ok"),
            probes_failed: probes("failed"),
        }
    }
}

/// One upstream's panic-mode metrics.
pub struct PanicMetrics {
    /// 1 while the upstream is in panic (health ignored).
    pub active: Gauge,
    pub entered: Counter,
    pub left: Counter,
}

impl PanicMetrics {
    pub fn new(upstream: &str) -> Self {
        let u = upstream.to_string();
        Self {
            active: gauge!(PANIC, "upstream" => u.clone()),
            entered: counter!(PANIC_TRANSITIONS, "upstream" => u.clone(), "to" => "entered"),
            left: counter!(PANIC_TRANSITIONS, "upstream" => u, "to" => "left"),
        }
    }
}
