//! HTTP/3 and QUIC metric handles of one shard, and the connection-table
//! gauges the admin thread sets from the lock-free tables on every scrape.

use metrics::{counter, gauge, Counter};

pub const CONNECTIONS: &str = "shardgate_quic_connections";

pub struct QuicMetrics {
    pub handshakes: Counter,
    pub handshake_failures: Counter,
    /// New connections refused because the table was full.
    pub refused: Counter,
    /// Stateless retries sent (`retry = true`).
    pub retries: Counter,
    /// Request streams accepted.
    pub streams: Counter,
    /// Malformed requests answered with a stream error, and heads not
    /// complete within `header_read`.
    pub stream_errors: Counter,
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
    /// Datagrams this shard handed to the shard owning their connection ID.
    pub redirected: Counter,
    /// Datagrams dropped because the owner's inbox was full.
    pub redirect_dropped: Counter,
    /// Established connections that ended, by how.
    pub closed: Closed,
}

/// How an established HTTP/3 connection ended
/// (`shardgate_quic_connections_closed_total{reason}`): what a client
/// triggers is counted here, never logged per connection.
pub struct Closed {
    /// H3_NO_ERROR from either side, GOAWAY, or the gateway's drain.
    pub clean: Counter,
    /// No packet within `max_idle_time`.
    pub idle_timeout: Counter,
    /// The gateway closed it: the client broke HTTP/3 (RFC 9114 §8: a
    /// connection error such as H3_FRAME_UNEXPECTED).
    pub protocol_error: Counter,
    /// The client closed it with an HTTP/3 error code.
    pub peer_error: Counter,
    /// Ended at the QUIC layer: a transport error either way, a stateless
    /// reset, or the session could not start.
    pub transport_error: Counter,
}

impl Closed {
    fn new(s: &str) -> Self {
        let c =
            |reason: &'static str| counter!(CLOSED, "shard" => s.to_string(), "reason" => reason);
        Self {
            clean: c("clean"),
            idle_timeout: c("idle_timeout"),
            protocol_error: c("protocol_error"),
            peer_error: c("peer_error"),
            transport_error: c("transport_error"),
        }
    }
}

pub const CLOSED: &str = "shardgate_quic_connections_closed_total";

impl QuicMetrics {
    pub fn new(shard: usize) -> Self {
        let s = shard.to_string();
        Self {
            handshakes: counter!("shardgate_quic_handshakes_total", "shard" => s.clone()),
            handshake_failures: counter!("shardgate_quic_handshake_failures_total", "shard" => s.clone()),
            refused: counter!("shardgate_quic_refused_total", "shard" => s.clone()),
            retries: counter!("shardgate_quic_retries_total", "shard" => s.clone()),
            streams: counter!("shardgate_quic_streams_total", "shard" => s.clone()),
            stream_errors: counter!("shardgate_quic_stream_errors_total", "shard" => s.clone()),
            bytes_received: counter!("shardgate_quic_bytes_received_total", "shard" => s.clone()),
            bytes_sent: counter!("shardgate_quic_bytes_sent_total", "shard" => s.clone()),
            redirected: counter!("shardgate_quic_packets_redirected_total", "shard" => s.clone()),
            redirect_dropped: counter!("shardgate_quic_redirect_dropped_total", "shard" => s.clone()),
            closed: Closed::new(&s),
        }
    }
}

/// Sets the per-state connection gauges of one listener's table on one
/// shard. Called by the admin thread before rendering: the table is read
/// with atomic loads only, so the shard is never blocked.
pub fn table_gauges(listener: &str, shard: usize, counts: shardgate_slots::Counts) {
    let s = shard.to_string();
    for (state, n) in [
        ("idle", counts.idle),
        ("busy", counts.busy),
        ("draining", counts.draining),
        ("closed", counts.closed),
    ] {
        gauge!(CONNECTIONS, "listener" => listener.to_string(), "shard" => s.clone(), "state" => state)
            .set(n as f64);
    }
}
