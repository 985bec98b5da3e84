//! `[upstream.health_check]`, `[upstream.outlier]` and `[upstream.backoff]`:
//! how failing servers are found and avoided (see docs/upstreams.md, "Health").

use std::time::Duration;

use serde::Serialize;

/// `[upstream.health_check]`: active probes, one per server per process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheckConfig {
    pub kind: HealthCheckKind,
    /// Request target of an HTTP probe; starts with `/`.
    pub path: String,
    /// `Host` of an HTTP probe; `None`: the server's address.
    pub host: Option<String>,
    /// Statuses an HTTP probe counts as passing.
    pub expect_status: StatusRange,
    /// Time between the start of two probes of one server …
    pub interval: Duration,
    /// … give or take this share (0.0–0.5), so probes of many servers (and of
    /// many gateways) do not arrive in step.
    pub jitter: f64,
    /// A probe that has not passed by then failed; at most `interval`.
    pub timeout: Duration,
    /// Passing probes in a row that bring a failing server back.
    pub healthy_threshold: u32,
    /// Failing probes in a row that take a passing server out.
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckKind {
    /// A TCP connect that succeeds within the timeout passes.
    Tcp,
    /// `GET path` whose status is within `expect_status` passes.
    Http,
}

/// An inclusive range of HTTP statuses (`"200-399"`, or one status `"204"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub low: u16,
    pub high: u16,
}

impl StatusRange {
    pub fn contains(&self, status: u16) -> bool {
        (self.low..=self.high).contains(&status)
    }
}

/// As written in the file: `"200-399"`, `"204"`.
impl Serialize for StatusRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// `[upstream.outlier]`: passive detection from real traffic, shared by all
/// shards, and the panic threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutlierConfig {
    /// Failed attempts in a row (connect failures, resets, timeouts, malformed
    /// answers; 5xx with `on_5xx`) that eject a server; 0 = never eject.
    pub consecutive_failures: u32,
    /// Count 5xx responses as failures.
    pub on_5xx: bool,
    /// The first ejection lasts this long; the n-th in a row n times as long …
    pub base_ejection_time: Duration,
    /// … but never longer than this.
    pub max_ejection_time: Duration,
    /// At most this share (percent) of the upstream's servers is ejected at
    /// once (at least one server may be, when above 0).
    pub max_ejection_percent: u8,
    /// Below this share (percent) of available servers (active check passing
    /// and not ejected) health is ignored and every server takes traffic;
    /// 0 = never.
    pub panic_threshold: u8,
}

/// `[upstream.backoff]`: how long one shard leaves a server alone after
/// failures in a row, before it tries it again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BackoffConfig {
    /// The delay after the first failure (before jitter) …
    pub base: Duration,
    /// … multiplied by this for each further failure in a row …
    pub factor: f64,
    /// … up to this.
    pub cap: Duration,
}
