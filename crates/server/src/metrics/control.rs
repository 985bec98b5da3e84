//! Metrics of the control plane (admin listener, reload), registered once per
//! server on the thread that starts it; nothing here is on the request path.

use metrics::{counter, gauge, Counter, Gauge};

pub const ADMIN_REJECTED: &str = "shardgate_admin_rejected_total";
pub const ADMIN_UNAUTHORIZED: &str = "shardgate_admin_unauthorized_total";
pub const RELOADS: &str = "shardgate_config_reloads_total";
pub const RELOAD_FAILURES: &str = "shardgate_config_reload_failures_total";
pub const GENERATION: &str = "shardgate_config_generation";

pub const DNS_RESOLUTIONS: &str = "shardgate_dns_resolutions_total";
pub const DNS_FAILURES: &str = "shardgate_dns_failures_total";
pub const DNS_CHANGES: &str = "shardgate_dns_changes_total";

/// Per host name of `servers` (bounded by the config), recorded by the
/// resolver thread and by start-up and reload.
pub struct DnsMetrics {
    pub resolutions: Counter,
    pub failures: Counter,
    pub changes: Counter,
}

impl DnsMetrics {
    pub fn new(host: &str) -> Self {
        let label = [("host", host.to_string())];
        DnsMetrics {
            resolutions: counter!(DNS_RESOLUTIONS, &label),
            failures: counter!(DNS_FAILURES, &label),
            changes: counter!(DNS_CHANGES, &label),
        }
    }
}

pub fn admin_rejected() -> Counter {
    counter!(ADMIN_REJECTED)
}

pub fn admin_unauthorized() -> Counter {
    counter!(ADMIN_UNAUTHORIZED)
}

pub struct ReloadMetrics {
    pub reloads: Counter,
    pub failures: Counter,
    pub generation: Gauge,
}

impl ReloadMetrics {
    pub fn register() -> Self {
        ReloadMetrics {
            reloads: counter!(RELOADS),
            failures: counter!(RELOAD_FAILURES),
            generation: gauge!(GENERATION),
        }
    }
}
