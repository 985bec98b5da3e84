//! The raw schema of `[route.retry]`, `[route.timeouts]` and
//! `[upstream.retry_budget]`.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::values::{DurationValue, Int, List, SizeValue};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRetry {
    pub attempts: Option<Spanned<Int>>,
    pub on: Option<Spanned<List<String>>>,
    pub buffer_body: Option<Spanned<SizeValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRouteTimeouts {
    pub connect_timeout: Option<Spanned<DurationValue>>,
    pub response_timeout: Option<Spanned<DurationValue>>,
    pub read_timeout: Option<Spanned<DurationValue>>,
    pub total_timeout: Option<Spanned<DurationValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRetryBudget {
    pub percent: Option<Spanned<Int>>,
    pub min_per_second: Option<Spanned<Int>>,
}
