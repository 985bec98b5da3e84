//! Flow control: `[upstream.adaptive_concurrency]` and the `max_in_flight`
//! caps of `[server.limits]` and `[[route]]`.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde_spanned::Spanned;

use super::value::{at, duration_within, int, jitter};
use crate::model::AdaptiveConcurrencyConfig;
use crate::raw::{Float, Int, RawAdaptiveConcurrency};
use crate::report::Report;

/// A cap beyond this is no cap: a shard cannot hold that many requests (its
/// connection table is at most 2^20 slots), and the counters stay far from
/// overflow.
pub(crate) const MAX_IN_FLIGHT: u32 = 1 << 24;
/// The limit is a per-shard count of requests in flight.
const LIMITS: RangeInclusive<u32> = 1..=1_000_000;
/// Shorter windows hold too few samples for a median; longer ones react in
/// minutes.
const WINDOW: RangeInclusive<Duration> = Duration::from_millis(10)..=Duration::from_secs(60);
const PROBE_INTERVAL: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(24 * 3600);
/// Below 1.0 any latency at all would shrink the limit.
const TOLERANCE: RangeInclusive<f64> = 1.0..=10.0;

/// `max_in_flight` of `[server.limits]` or `[[route]]`.
pub(crate) fn max_in_flight(r: &mut Report<'_>, raw: Option<&Spanned<Int>>, key: &str) -> u32 {
    int(r, raw, key, 0, 0..=MAX_IN_FLIGHT)
}

/// `[upstream.adaptive_concurrency]`; `None` when the table is absent.
pub(crate) fn adaptive_concurrency(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawAdaptiveConcurrency>>,
    base: &str,
) -> Option<AdaptiveConcurrencyConfig> {
    let table = raw?;
    let raw = table.get_ref();
    let d = AdaptiveConcurrencyConfig::default();
    let key = |field: &str| format!("{base}.{field}");
    let min_limit = int(
        r,
        raw.min_limit.as_ref(),
        &key("min_limit"),
        d.min_limit,
        LIMITS,
    );
    let max_limit = int(
        r,
        raw.max_limit.as_ref(),
        &key("max_limit"),
        d.max_limit,
        LIMITS,
    );
    let initial_limit = int(
        r,
        raw.initial_limit.as_ref(),
        &key("initial_limit"),
        d.initial_limit,
        LIMITS,
    );
    // `min_limit ≤ initial_limit ≤ max_limit`, reported at a key the file
    // sets (the table itself when only defaults clash).
    let place = |v: &Option<Spanned<Int>>| v.as_ref().map_or(at(table), at);
    if min_limit > max_limit {
        r.error(
            place(&raw.min_limit),
            key("min_limit"),
            format!("must not be larger than `max_limit` ({max_limit})"),
        );
    } else if !(min_limit..=max_limit).contains(&initial_limit) {
        r.error(
            place(&raw.initial_limit),
            key("initial_limit"),
            format!("must be between `min_limit` ({min_limit}) and `max_limit` ({max_limit})"),
        );
    }
    Some(AdaptiveConcurrencyConfig {
        min_limit,
        max_limit,
        initial_limit,
        window: duration_within(r, raw.window.as_ref(), &key("window"), d.window, WINDOW),
        window_samples: int(
            r,
            raw.window_samples.as_ref(),
            &key("window_samples"),
            d.window_samples,
            1..=10_000,
        ),
        long_window: int(
            r,
            raw.long_window.as_ref(),
            &key("long_window"),
            d.long_window,
            1..=10_000,
        ),
        tolerance: float(
            r,
            raw.tolerance.as_ref(),
            &key("tolerance"),
            d.tolerance,
            TOLERANCE,
        ),
        smoothing: share(r, raw.smoothing.as_ref(), &key("smoothing"), d.smoothing),
        probe_interval: duration_within(
            r,
            raw.probe_interval.as_ref(),
            &key("probe_interval"),
            d.probe_interval,
            PROBE_INTERVAL,
        ),
        probe_jitter: jitter(
            r,
            raw.probe_jitter.as_ref(),
            &key("probe_jitter"),
            d.probe_jitter,
        ),
        probe_ratio: share(
            r,
            raw.probe_ratio.as_ref(),
            &key("probe_ratio"),
            d.probe_ratio,
        ),
        status: int(r, raw.status.as_ref(), &key("status"), d.status, 400..=599),
    })
}

/// A number within `range` (NaN fails).
fn float(
    r: &mut Report<'_>,
    raw: Option<&Spanned<Float>>,
    key: &str,
    default: f64,
    range: RangeInclusive<f64>,
) -> f64 {
    let Some(v) = raw else {
        return default;
    };
    let x = v.get_ref().0;
    if range.contains(&x) {
        x
    } else {
        r.error(
            at(v),
            key,
            format!(
                "must be between {:.1} and {:.1} (got {x})",
                range.start(),
                range.end()
            ),
        );
        default
    }
}

/// A share in (0.0, 1.0]: 0 would freeze what it scales.
fn share(r: &mut Report<'_>, raw: Option<&Spanned<Float>>, key: &str, default: f64) -> f64 {
    let Some(v) = raw else {
        return default;
    };
    let x = v.get_ref().0;
    if x > 0.0 && x <= 1.0 {
        x
    } else {
        r.error(
            at(v),
            key,
            format!("must be greater than 0.0 and at most 1.0 (got {x})"),
        );
        default
    }
}
