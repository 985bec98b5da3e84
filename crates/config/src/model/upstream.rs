//! `[[upstream]]`, its servers and `[upstream.pool]`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::{
    AdaptiveConcurrencyConfig, BackoffConfig, HashKey, HealthCheckConfig, NamedServer,
    OutlierConfig, RetryBudgetConfig, UpstreamTls,
};

/// `[[upstream]]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamConfig {
    pub name: String,
    pub servers: Vec<UpstreamServer>,
    pub lb: LbPolicy,
    /// What `consistent_hash` hashes; `Some` exactly when `lb` is
    /// [`LbPolicy::ConsistentHash`] (validation requires it there and
    /// refuses it elsewhere).
    pub hash_key: Option<HashKey>,
    /// TCP connect timeout → 502 (connect failure) / 504 (timeout) when exhausted.
    pub connect_timeout: Duration,
    /// From the end of the request to the response head → 504.
    pub response_timeout: Duration,
    /// Longest gap between two reads of a response body; the client connection is
    /// closed when it fires after the response head was sent.
    pub read_timeout: Duration,
    /// The whole exchange, retries included (None = no limit) → 504 before the
    /// response head, a close after it.
    pub total_timeout: Option<Duration>,
    /// Use TCP Fast Open on connects to this upstream.
    pub tcp_fast_open: bool,
    pub pool: PoolConfig,
    /// `[upstream.health_check]`; `None`: no active probes.
    pub health_check: Option<HealthCheckConfig>,
    pub outlier: OutlierConfig,
    pub backoff: BackoffConfig,
    /// `[upstream.retry_budget]`.
    pub retry_budget: RetryBudgetConfig,
    /// `[upstream.tls]`: speak TLS to the servers (None: cleartext).
    pub tls: Option<UpstreamTls>,
    /// `servers` entries given by host name. `servers` holds the entries
    /// given as IP addresses until the server resolves these and adds one
    /// server per address (`host` set).
    pub named: Vec<NamedServer>,
    /// How often the names of `named` are resolved again (sooner when a
    /// DNS answer's TTL says so).
    pub resolve_interval: Duration,
    /// `[upstream.adaptive_concurrency]` (None: no adaptive limit).
    pub adaptive_concurrency: Option<AdaptiveConcurrencyConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamServer {
    pub address: SocketAddr,
    /// Relative share for weighted policies; ≥ 1.
    pub weight: u32,
    /// The host name this address was resolved from (None: given as an IP
    /// address). TLS verifies the server's certificate against it.
    pub host: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    /// Each server in turn, ignoring weights.
    RoundRobin,
    /// Smooth weighted round robin (nginx's algorithm).
    WeightedRoundRobin,
    /// Fewest requests in flight on this shard, relative to the weight.
    LeastRequest,
    /// Power of two choices: the cheaper of two random servers, by
    /// peak-EWMA latency × (requests in flight + 1).
    P2c,
    /// Uniform random, in proportion to the weights.
    Random,
    /// Maglev consistent hashing of [`UpstreamConfig::hash_key`].
    ConsistentHash,
}

/// `[upstream.pool]`: the per-shard keep-alive pool for each server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolConfig {
    /// Idle connections kept per server per shard.
    pub max_idle_per_host: usize,
    /// Open connections (idle + busy) per server per shard; 0 = unlimited.
    pub max_conns_per_host: usize,
    /// An idle connection is closed after this long …
    pub idle_timeout: Duration,
    /// … give or take this fraction (0.0–0.5), so idle connections do not all
    /// expire at once.
    pub idle_timeout_jitter: f64,
    /// Requests that may wait per server per shard for a connection when
    /// `max_conns_per_host` are open; one more gets 503 at once.
    pub max_pending: usize,
    /// How long a request waits for a connection before it gets 503.
    pub pending_timeout: Duration,
}
