//! Metric handles, registered once per shard so that recording on the hot path is
//! an increment on a handle (no key building, no allocation). Without an
//! installed recorder every handle is a no-op.

pub mod control;
pub mod describe;
pub mod flow;
pub mod health;
#[cfg(test)]
mod help_tests;
pub mod histogram;
pub mod pool;
pub mod quic;
pub mod ratelimit;
pub mod recorder;
pub mod redis_sync;
pub mod route;
pub mod upgrade;
pub mod upstream;

pub use pool::PoolGauges;
pub use route::{RouteMetrics, NO_ROUTE};
pub use upstream::{RetryReason, UpstreamMetrics, UpstreamTlsMetrics};

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

pub struct ShardMetrics {
    pub accepted: Counter,
    pub active: Gauge,
    pub table_full: Counter,
    /// Connections refused because their client held `max_connections_per_client`.
    pub client_limit: Counter,
    pub client_errors: Counter,
    pub tls_handshakes: Counter,
    /// Handshakes that failed, timed out or were cut short by the client.
    pub tls_handshake_failures: Counter,
    /// Accept → close of every downstream connection.
    pub connection_seconds: Histogram,
    /// Response body bytes moved through a pipe (ADR 22).
    pub spliced_bytes: Counter,
    pub quic: quic::QuicMetrics,
}

impl ShardMetrics {
    pub fn new(shard: usize) -> Self {
        let s = shard.to_string();
        Self {
            accepted: counter!("shardgate_connections_accepted_total", "shard" => s.clone()),
            active: gauge!("shardgate_connections_active", "shard" => s.clone()),
            table_full: counter!("shardgate_connection_table_full_total", "shard" => s.clone()),
            client_limit: counter!("shardgate_client_limit_refused_total", "shard" => s.clone()),
            client_errors: counter!("shardgate_client_errors_total", "shard" => s.clone()),
            tls_handshakes: counter!("shardgate_tls_handshakes_total", "shard" => s.clone()),
            tls_handshake_failures: counter!("shardgate_tls_handshake_failures_total", "shard" => s.clone()),
            connection_seconds: histogram!("shardgate_connection_duration_seconds", "shard" => s.clone()),
            spliced_bytes: counter!("shardgate_spliced_bytes_total", "shard" => s),
            quic: quic::QuicMetrics::new(shard),
        }
    }
}
