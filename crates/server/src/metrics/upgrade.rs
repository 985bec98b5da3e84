//! Metrics of binary upgrades (ADR 19), counted by the process that runs
//! them: the old one counts upgrades, the new one the old generation's QUIC
//! datagrams it forwarded.

use metrics::{counter, Counter};

pub const STARTED: &str = "shardgate_upgrades_started_total";
pub const SUCCEEDED: &str = "shardgate_upgrades_succeeded_total";
pub const FAILED: &str = "shardgate_upgrades_failed_total";
pub const FORWARDED: &str = "shardgate_quic_forwarded_total";
pub const FORWARD_DROPPED: &str = "shardgate_quic_forward_dropped_total";

pub struct UpgradeMetrics {
    pub started: Counter,
    pub succeeded: Counter,
    pub failed: Counter,
}

impl UpgradeMetrics {
    pub fn register() -> Self {
        // Registered at start, so the families show (at 0) before any upgrade.
        let _ = counter!(FORWARDED);
        let _ = counter!(FORWARD_DROPPED);
        UpgradeMetrics {
            started: counter!(STARTED),
            succeeded: counter!(SUCCEEDED),
            failed: counter!(FAILED),
        }
    }
}
