//! Flow control: `[upstream.adaptive_concurrency]` (the in-flight caps are
//! plain integers on `[server.limits]` and `[[route]]`). Defaults are in
//! `defaults.rs`.

use std::time::Duration;

use serde::Serialize;

/// `[upstream.adaptive_concurrency]`: a Gradient2-shaped limit on the
/// requests in flight to the upstream, per shard, moved by the latency the
/// upstream answers with (docs/flow-control.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AdaptiveConcurrencyConfig {
    /// The limit never goes below this (Netflix `minLimit`).
    pub min_limit: u32,
    /// … nor above this (Netflix `maxConcurrency`).
    pub max_limit: u32,
    /// Where the limit starts (and restarts after a reload that changes the
    /// table).
    pub initial_limit: u32,
    /// Samples are gathered for at least this long before the limit moves
    /// (Netflix `minWindowTime`, Envoy `concurrency_update_interval`).
    pub window: Duration,
    /// … and until this many samples came in (Netflix `windowSize`).
    pub window_samples: u32,
    /// Windows over which the long-term RTT baseline is smoothed (an EWMA;
    /// Netflix `longWindow`, counted in windows here).
    pub long_window: u32,
    /// How much slower than the baseline this window's RTT may be before the
    /// limit shrinks (Netflix `rttTolerance`).
    pub tolerance: f64,
    /// Share of each new estimate taken into the limit (Netflix `smoothing`).
    pub smoothing: f64,
    /// How often the baseline is measured again at low concurrency (Envoy
    /// `min_rtt_calc_params.interval`) …
    pub probe_interval: Duration,
    /// … give or take this share of it (Envoy `jitter`), so probes of the
    /// shards and of a fleet do not line up.
    pub probe_jitter: f64,
    /// During a probe, requests are admitted up to this share of what was
    /// in flight before it (Envoy's `min_concurrency`, but relative and
    /// separate from `min_limit`).
    pub probe_ratio: f64,
    /// The answer to a request over the limit.
    pub status: u16,
}
