//! `[resolver]` as written.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{DurationValue, List};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawResolver {
    pub nameservers: Option<Spanned<List<String>>>,
    pub timeout: Option<Spanned<DurationValue>>,
}
