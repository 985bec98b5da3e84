//! Raw `[upstream.health_check]`, `[upstream.outlier]` and `[upstream.backoff]`.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{DurationValue, Float, Int};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawHealthCheck {
    pub kind: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<String>>,
    pub interval: Option<Spanned<DurationValue>>,
    pub jitter: Option<Spanned<Float>>,
    pub timeout: Option<Spanned<DurationValue>>,
    pub healthy_threshold: Option<Spanned<Int>>,
    pub unhealthy_threshold: Option<Spanned<Int>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawOutlier {
    pub consecutive_failures: Option<Spanned<Int>>,
    pub on_5xx: Option<bool>,
    pub base_ejection_time: Option<Spanned<DurationValue>>,
    pub max_ejection_time: Option<Spanned<DurationValue>>,
    pub max_ejection_percent: Option<Spanned<Int>>,
    pub panic_threshold: Option<Spanned<Int>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawBackoff {
    pub base: Option<Spanned<DurationValue>>,
    pub factor: Option<Spanned<Float>>,
    pub cap: Option<Spanned<DurationValue>>,
}
