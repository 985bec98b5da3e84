//! Per-upstream metric handles, labelled with the shard and the upstream's
//! name (bounded by the config, never by traffic). Registered when a shard
//! builds a config generation; recording is a handle increment.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

/// Why a request was sent again: the `reason` label of
/// `shardgate_upstream_retries_total` (the words of `[route.retry] on`, and
/// the keep-alive race, which is always retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    ConnectFailure,
    /// A reused pooled connection died before any response byte (ADR 4).
    KeepAliveRace,
    Reset,
    Status502,
    Status503,
    Status504,
}

impl RetryReason {
    pub const ALL: [RetryReason; 6] = [
        RetryReason::ConnectFailure,
        RetryReason::KeepAliveRace,
        RetryReason::Reset,
        RetryReason::Status502,
        RetryReason::Status503,
        RetryReason::Status504,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RetryReason::ConnectFailure => "connect-failure",
            RetryReason::KeepAliveRace => "keepalive-race",
            RetryReason::Reset => "reset",
            RetryReason::Status502 => "502",
            RetryReason::Status503 => "503",
            RetryReason::Status504 => "504",
        }
    }
}

pub struct UpstreamMetrics {
    /// Attempts sent to a server (a retried request counts twice).
    pub requests: Counter,
    /// Attempts that failed on the upstream side (connect, reset, timeout,
    /// malformed response).
    pub failures: Counter,
    pub connects: Counter,
    pub connect_errors: Counter,
    pub reused: Counter,
    /// By [`RetryReason`], in the order of [`RetryReason::ALL`].
    retries: [Counter; 6],
    /// Retries the retry budget did not let through.
    pub retry_budget_exhausted: Counter,
    pub connect_seconds: Histogram,
    /// Requests waiting for a connection (`max_pending`).
    pub pending: Gauge,
    /// Waits that ended in 503 after `pending_timeout`.
    pub pending_timeouts: Counter,
    /// Requests refused at once because `max_pending` already waited.
    pub pending_rejected: Counter,
    /// Servers picked while the upstream was in panic (health ignored).
    pub panic_picks: Counter,
}

/// `[upstream.tls]`: registered for TLS upstreams only.
pub struct UpstreamTlsMetrics {
    pub handshakes: Counter,
    pub resumed: Counter,
    pub errors: Counter,
}

impl UpstreamTlsMetrics {
    pub fn new(shard: usize, upstream: &str) -> Self {
        let labels = [
            ("shard", shard.to_string()),
            ("upstream", upstream.to_string()),
        ];
        Self {
            handshakes: counter!("shardgate_upstream_tls_handshakes_total", &labels),
            resumed: counter!("shardgate_upstream_tls_resumed_total", &labels),
            errors: counter!("shardgate_upstream_tls_errors_total", &labels),
        }
    }
}

impl UpstreamMetrics {
    pub fn new(shard: usize, upstream: &str) -> Self {
        let s = shard.to_string();
        let u = upstream.to_string();
        let labels = [("shard", s.clone()), ("upstream", u.clone())];
        let retries = RetryReason::ALL.map(|r| {
            counter!("shardgate_upstream_retries_total", "shard" => s.clone(), "upstream" => u.clone(), "reason" => r.label())
        });
        Self {
            requests: counter!("shardgate_upstream_requests_total", &labels),
            failures: counter!("shardgate_upstream_failures_total", &labels),
            connects: counter!("shardgate_upstream_connects_total", &labels),
            connect_errors: counter!("shardgate_upstream_connect_errors_total", &labels),
            reused: counter!("shardgate_upstream_reused_total", &labels),
            retries,
            retry_budget_exhausted: counter!(
                "shardgate_upstream_retries_budget_exhausted_total",
                &labels
            ),
            connect_seconds: histogram!("shardgate_upstream_connect_duration_seconds", &labels),
            pending: gauge!("shardgate_upstream_pending_requests", &labels),
            pending_timeouts: counter!("shardgate_upstream_pending_timeouts_total", &labels),
            pending_rejected: counter!("shardgate_upstream_pending_rejected_total", &labels),
            panic_picks: counter!("shardgate_upstream_panic_picks_total", &labels),
        }
    }

    pub fn retried(&self, reason: RetryReason) {
        if let Some(c) = self.retries.get(reason as usize) {
            c.increment(1);
        }
    }
}
