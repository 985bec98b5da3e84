//! Metric handles, registered once per shard so that recording on the hot path is
//! an increment on a handle (no key building, no allocation). Without an
//! installed recorder every handle is a no-op.

pub mod histogram;
pub mod recorder;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

pub struct ShardMetrics {
    pub accepted: Counter,
    pub active: Gauge,
    pub table_full: Counter,
    /// Responses by status class, index = status / 100 - 1 (1xx..5xx).
    pub responses: [Counter; 5],
    pub upstream_connects: Counter,
    pub upstream_connect_errors: Counter,
    pub upstream_reused: Counter,
    pub upstream_retries: Counter,
    pub client_errors: Counter,
    pub tls_handshakes: Counter,
    /// Handshakes that failed, timed out or were cut short by the client.
    pub tls_handshake_failures: Counter,
    /// Accept → close of every downstream connection.
    pub connection_seconds: Histogram,
    /// First byte of a request in → last byte of its response out.
    pub request_seconds: Histogram,
}

impl ShardMetrics {
    pub fn new(shard: usize) -> Self {
        let s = shard.to_string();
        let class = |c: &'static str| counter!("shardgate_responses_total", "shard" => s.clone(), "class" => c);
        Self {
            accepted: counter!("shardgate_connections_accepted_total", "shard" => s.clone()),
            active: gauge!("shardgate_connections_active", "shard" => s.clone()),
            table_full: counter!("shardgate_connection_table_full_total", "shard" => s.clone()),
            responses: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            upstream_connects: counter!("shardgate_upstream_connects_total", "shard" => s.clone()),
            upstream_connect_errors: counter!("shardgate_upstream_connect_errors_total", "shard" => s.clone()),
            upstream_reused: counter!("shardgate_upstream_reused_total", "shard" => s.clone()),
            upstream_retries: counter!("shardgate_upstream_retries_total", "shard" => s.clone()),
            client_errors: counter!("shardgate_client_errors_total", "shard" => s.clone()),
            tls_handshakes: counter!("shardgate_tls_handshakes_total", "shard" => s.clone()),
            tls_handshake_failures: counter!("shardgate_tls_handshake_failures_total", "shard" => s.clone()),
            connection_seconds: histogram!("shardgate_connection_duration_seconds", "shard" => s.clone()),
            request_seconds: histogram!("shardgate_request_duration_seconds", "shard" => s),
        }
    }

    pub fn response(&self, status: u16) {
        let i = (status / 100).clamp(1, 5) as usize - 1;
        if let Some(c) = self.responses.get(i) {
            c.increment(1);
        }
    }
}
