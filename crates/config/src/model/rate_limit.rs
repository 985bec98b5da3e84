//! `[[route.rate_limit]]`: token-bucket (GCRA) limits on a route's requests.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

/// One rate-limit rule of a route. A request passes a route's limits when
/// it passes every rule, checked in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitConfig {
    pub key: RateLimitKey,
    pub rate: Rate,
    /// Requests a client may send at once (the bucket's depth).
    pub burst: u32,
    /// Status of a limited request's answer (4xx or 5xx).
    pub status: u16,
    /// Body of that answer (`text/plain`); `None`: a short default.
    pub body: Option<String>,
    pub sharing: Sharing,
    /// Keyed buckets kept (a power of two; rounded up from the file's value).
    pub table_size: usize,
    pub backend: RateLimitBackend,
}

/// Whose requests share a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKey {
    /// `"client_ip"`: the client's address.
    ClientIp,
    /// `"header:NAME"` (stored lower-case): the first field's value. A
    /// request without the field is not limited by the rule.
    Header(String),
    /// `"route"`: one bucket for all the route's requests.
    Route,
}

/// `count` requests per `per` (`"100/s"`, `"6000/min"`, `"10/h"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The emission interval 1 / rate, in nanoseconds (at least 1).
    pub fn interval_ns(&self) -> u64 {
        let per = u64::try_from(self.per.as_nanos()).unwrap_or(u64::MAX);
        (per / u64::from(self.count.max(1))).max(1)
    }

    /// One second's worth of requests, at least 1: the default burst.
    pub fn per_second(&self) -> u32 {
        let secs = self.per.as_secs().max(1);
        u32::try_from(u64::from(self.count) / secs)
            .unwrap_or(u32::MAX)
            .max(1)
    }
}

/// How a rule's buckets are kept across shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// One table shared by every shard: a key's requests spend one bucket
    /// whichever shard serves them.
    Atomic,
    /// A table per shard with `rate / N` and `burst / N` (N shards).
    Split,
}

/// Where the counts live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBackend {
    /// This gateway's memory only.
    Local,
    /// Local buckets synchronised with Redis, one limit across a fleet.
    Redis(RedisConfig),
}

/// `[route.rate_limit.redis]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedisConfig {
    pub address: SocketAddr,
    /// Prepended to every key the gateway writes.
    pub key_prefix: String,
    /// Longest wait for one Redis exchange.
    pub timeout: Duration,
    /// How often local counts are exchanged with Redis.
    pub sync_interval: Duration,
}
