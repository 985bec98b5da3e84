//! The raw schema of `[[route.rate_limit]]` and `[route.rate_limit.redis]`.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::values::{DurationValue, Int};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRateLimit {
    pub key: Option<Spanned<String>>,
    pub rate: Option<Spanned<String>>,
    pub burst: Option<Spanned<Int>>,
    pub status: Option<Spanned<Int>>,
    pub body: Option<Spanned<String>>,
    pub sharing: Option<Spanned<String>>,
    pub table_size: Option<Spanned<Int>>,
    pub backend: Option<Spanned<String>>,
    pub redis: Option<Spanned<RawRedis>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRedis {
    pub address: Option<Spanned<String>>,
    pub key_prefix: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationValue>>,
    pub sync_interval: Option<Spanned<DurationValue>>,
}
