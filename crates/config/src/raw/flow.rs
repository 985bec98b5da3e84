//! The raw schema of `[upstream.adaptive_concurrency]`.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::values::{DurationValue, Float, Int};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawAdaptiveConcurrency {
    pub min_limit: Option<Spanned<Int>>,
    pub max_limit: Option<Spanned<Int>>,
    pub initial_limit: Option<Spanned<Int>>,
    pub window: Option<Spanned<DurationValue>>,
    pub window_samples: Option<Spanned<Int>>,
    pub long_window: Option<Spanned<Int>>,
    pub tolerance: Option<Spanned<Float>>,
    pub smoothing: Option<Spanned<Float>>,
    pub probe_interval: Option<Spanned<DurationValue>>,
    pub probe_jitter: Option<Spanned<Float>>,
    pub probe_ratio: Option<Spanned<Float>>,
    pub status: Option<Spanned<Int>>,
}
