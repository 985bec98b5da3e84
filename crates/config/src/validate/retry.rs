//! `[route.retry]`, `[route.timeouts]` and `[upstream.retry_budget]`.

use serde_spanned::Spanned;

use super::value::{at, duration, int, quoted_list, size};
use crate::model::{RetryBudgetConfig, RetryConfig, RetryOn, TimeoutOverrides, UpstreamConfig};
use crate::raw::{DurationValue, List, RawRetry, RawRetryBudget, RawRouteTimeouts};
use crate::report::Report;

/// A bound so that a typo cannot make the minimum meaningless.
pub(crate) const MAX_MIN_PER_SECOND: u32 = 100_000;

/// `[route.retry]`; `proxied`: the route forwards (a `respond` route has no
/// upstream to retry, so the table there is a mistake).
pub(crate) fn retry(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawRetry>>,
    base: &str,
    proxied: bool,
) -> RetryConfig {
    let d = RetryConfig::default();
    let Some(table) = raw else {
        return d;
    };
    if !proxied {
        r.error(at(table), base, "only a route with `proxy` has retries");
        return d;
    }
    let raw = table.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let max_body = RetryConfig::MAX_BUFFER_BODY as u64;
    let buffer_body = size(
        r,
        raw.buffer_body.as_ref(),
        &key("buffer_body"),
        d.buffer_body as u64,
        0..=max_body,
    );
    RetryConfig {
        attempts: int(
            r,
            raw.attempts.as_ref(),
            &key("attempts"),
            d.attempts,
            1..=RetryConfig::MAX_ATTEMPTS,
        ),
        on: on(r, raw.on.as_ref(), &key("on"), d.on),
        buffer_body: usize::try_from(buffer_body).unwrap_or(d.buffer_body),
    }
}

/// `on`: a non-empty list of known conditions, each once.
fn on(
    r: &mut Report<'_>,
    raw: Option<&Spanned<List<String>>>,
    key: &str,
    default: RetryOn,
) -> RetryOn {
    let Some(list) = raw else {
        return default;
    };
    if list.get_ref().0.is_empty() {
        r.error(
            at(list),
            key,
            "empty list; leave the key out for the default, or set `attempts = 1` to turn retries off",
        );
        return default;
    }
    let mut on = RetryOn::NONE;
    for (k, word) in list.get_ref().0.iter().enumerate() {
        let w = word.get_ref().as_str();
        let item = format!("{key}[{k}]");
        if on.has(w) {
            r.error(at(word), item, format!("{w:?} is listed twice"));
        } else if !on.set(w) {
            r.error(
                at(word),
                item,
                format!(
                    "unknown condition {w:?}; expected one of {}",
                    quoted_list(RetryOn::WORDS)
                ),
            );
        }
    }
    on
}

/// `[route.timeouts]`: each key, when written, replaces the upstream's.
pub(crate) fn route_timeouts(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawRouteTimeouts>>,
    base: &str,
    proxied: bool,
) -> TimeoutOverrides {
    let Some(table) = raw else {
        return TimeoutOverrides::default();
    };
    if !proxied {
        r.error(
            at(table),
            base,
            "only a route with `proxy` has upstream timeouts",
        );
        return TimeoutOverrides::default();
    }
    let raw = table.get_ref();
    let mut one = |value: Option<&Spanned<DurationValue>>, field: &str, default| {
        value.map(|v| duration(r, Some(v), &format!("{base}.{field}"), default))
    };
    TimeoutOverrides {
        connect_timeout: one(
            raw.connect_timeout.as_ref(),
            "connect_timeout",
            UpstreamConfig::DEFAULT_CONNECT_TIMEOUT,
        ),
        response_timeout: one(
            raw.response_timeout.as_ref(),
            "response_timeout",
            UpstreamConfig::DEFAULT_RESPONSE_TIMEOUT,
        ),
        read_timeout: one(
            raw.read_timeout.as_ref(),
            "read_timeout",
            UpstreamConfig::DEFAULT_READ_TIMEOUT,
        ),
        total_timeout: one(
            raw.total_timeout.as_ref(),
            "total_timeout",
            UpstreamConfig::DEFAULT_RESPONSE_TIMEOUT,
        ),
    }
}

/// `[upstream.retry_budget]`.
pub(crate) fn budget(
    r: &mut Report<'_>,
    raw: Option<&RawRetryBudget>,
    base: &str,
) -> RetryBudgetConfig {
    let d = RetryBudgetConfig::default();
    let Some(raw) = raw else {
        return d;
    };
    RetryBudgetConfig {
        percent: int(
            r,
            raw.percent.as_ref(),
            &format!("{base}.percent"),
            d.percent,
            0..=100,
        ),
        min_per_second: int(
            r,
            raw.min_per_second.as_ref(),
            &format!("{base}.min_per_second"),
            d.min_per_second,
            0..=MAX_MIN_PER_SECOND,
        ),
    }
}
