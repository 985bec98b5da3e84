//! `[upstream.outlier]` (passive ejection, panic threshold) and
//! `[upstream.backoff]` (a shard's reconnect delays).

use std::time::Duration;

use serde_spanned::Spanned;

use super::value::{at, duration, int};
use crate::model::{BackoffConfig, OutlierConfig};
use crate::raw::{DurationValue, RawBackoff, RawOutlier};
use crate::report::Report;

/// More failures in a row than this is "never" in practice; the bound keeps
/// the counter's meaning obvious.
pub(crate) const MAX_CONSECUTIVE: u32 = 10_000;
/// A factor above this reaches any cap in two or three steps: no longer a
/// backoff curve. Below 1.0 the delays would shrink as failures go on.
pub(crate) const FACTOR: std::ops::RangeInclusive<f64> = 1.0..=10.0;

pub(crate) fn outlier(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawOutlier>>,
    base: &str,
) -> OutlierConfig {
    let d = OutlierConfig::default();
    let Some(raw) = raw else {
        return d;
    };
    let raw = raw.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let base_time = duration(
        r,
        raw.base_ejection_time.as_ref(),
        &key("base_ejection_time"),
        d.base_ejection_time,
    );
    let max_time = duration(
        r,
        raw.max_ejection_time.as_ref(),
        &key("max_ejection_time"),
        d.max_ejection_time.max(base_time),
    );
    order(
        r,
        (
            base_time,
            raw.base_ejection_time.as_ref(),
            key("base_ejection_time"),
        ),
        (
            max_time,
            raw.max_ejection_time.as_ref(),
            key("max_ejection_time"),
        ),
    );
    OutlierConfig {
        consecutive_failures: int(
            r,
            raw.consecutive_failures.as_ref(),
            &key("consecutive_failures"),
            d.consecutive_failures,
            0..=MAX_CONSECUTIVE,
        ),
        on_5xx: raw.on_5xx.unwrap_or(d.on_5xx),
        base_ejection_time: base_time,
        max_ejection_time: max_time.max(base_time),
        max_ejection_percent: int(
            r,
            raw.max_ejection_percent.as_ref(),
            &key("max_ejection_percent"),
            d.max_ejection_percent,
            0..=100,
        ),
        panic_threshold: int(
            r,
            raw.panic_threshold.as_ref(),
            &key("panic_threshold"),
            d.panic_threshold,
            0..=100,
        ),
    }
}

pub(crate) fn backoff(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawBackoff>>,
    base: &str,
) -> BackoffConfig {
    let d = BackoffConfig::default();
    let Some(raw) = raw else {
        return d;
    };
    let raw = raw.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let first = duration(r, raw.base.as_ref(), &key("base"), d.base);
    let cap = duration(r, raw.cap.as_ref(), &key("cap"), d.cap.max(first));
    order(
        r,
        (first, raw.base.as_ref(), key("base")),
        (cap, raw.cap.as_ref(), key("cap")),
    );
    let factor = match raw.factor.as_ref() {
        // Written so that NaN fails too.
        Some(v) if FACTOR.contains(&v.get_ref().0) => v.get_ref().0,
        Some(v) => {
            r.error(
                at(v),
                key("factor"),
                format!(
                    "must be between {:.1} and {:.1} (got {})",
                    FACTOR.start(),
                    FACTOR.end(),
                    v.get_ref().0
                ),
            );
            d.factor
        }
        None => d.factor,
    };
    BackoffConfig {
        base: first,
        factor,
        cap: cap.max(first),
    }
}

type Bound<'v> = (Duration, Option<&'v Spanned<DurationValue>>, String);

/// Reports `small > big` at whichever of the two the file sets (the smaller
/// one first); when neither is written the defaults are consistent.
fn order(r: &mut Report<'_>, small: Bound<'_>, big: Bound<'_>) {
    let (s, s_raw, s_key) = small;
    let (b, b_raw, b_key) = big;
    if s <= b {
        return;
    }
    let name = |k: &str| k.rsplit('.').next().unwrap_or_default().to_string();
    if let Some(v) = s_raw {
        r.error(
            at(v),
            &s_key,
            format!(
                "must not be longer than `{}` ({})",
                name(&b_key),
                crate::duration::format(b)
            ),
        );
    } else if let Some(v) = b_raw {
        r.error(
            at(v),
            &b_key,
            format!(
                "must be at least `{}` ({})",
                name(&s_key),
                crate::duration::format(s)
            ),
        );
    }
}
