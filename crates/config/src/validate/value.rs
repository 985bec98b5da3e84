//! Checks shared by all sections: typed leaves (durations, sizes, integers,
//! enums, addresses, names) with their range rules.
//!
//! Each helper reports its own problem and returns the default on failure, so
//! the caller keeps going and the run reports everything.

use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde_spanned::Spanned;

use crate::raw::{DurationValue, Float, Int, Scalar, SizeValue};
use crate::report::Report;
use crate::{duration, size};

/// Upper bound of every duration: deadline arithmetic (`Instant + Duration`)
/// panics on overflow, and no timeout here is sensibly longer than a day.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Upper bound of every jitter share: beyond ±50 % a timeout no longer means
/// what its value says.
pub(crate) const MAX_JITTER: f64 = 0.5;

pub(crate) fn at<T>(value: &Spanned<T>) -> usize {
    value.span().start
}

/// A duration that must be > 0 and ≤ [`MAX_DURATION`].
pub(crate) fn duration(
    r: &mut Report<'_>,
    value: Option<&Spanned<DurationValue>>,
    key: &str,
    default: Duration,
) -> Duration {
    let Some(value) = value else {
        return default;
    };
    let parsed = match &value.get_ref().0 {
        Scalar::Int(n) => Err(duration::missing_unit(&n.to_string())),
        Scalar::Str(text) => duration::parse(text),
    };
    let checked = parsed.and_then(|d| {
        if d.is_zero() {
            Err("must be greater than 0".to_string())
        } else if d > MAX_DURATION {
            Err(format!(
                "must be at most {}",
                duration::format(MAX_DURATION)
            ))
        } else {
            Ok(d)
        }
    });
    checked.unwrap_or_else(|message| {
        r.error(at(value), key, message);
        default
    })
}

/// A duration as [`duration`], further limited to `range` (which must hold
/// `default`: a value [`duration`] refused comes back as `default` and must
/// not be reported a second time).
pub(crate) fn duration_within(
    r: &mut Report<'_>,
    value: Option<&Spanned<DurationValue>>,
    key: &str,
    default: Duration,
    range: RangeInclusive<Duration>,
) -> Duration {
    let d = duration(r, value, key, default);
    match value {
        Some(v) if !range.contains(&d) => {
            r.error(
                at(v),
                key,
                format!(
                    "must be between {} and {} (got {})",
                    duration::format(*range.start()),
                    duration::format(*range.end()),
                    duration::format(d)
                ),
            );
            default
        }
        _ => d,
    }
}

/// A share in 0.0..=[`MAX_JITTER`] by which a timeout is spread.
pub(crate) fn jitter(
    r: &mut Report<'_>,
    raw: Option<&Spanned<Float>>,
    key: &str,
    default: f64,
) -> f64 {
    let Some(v) = raw else {
        return default;
    };
    let x = v.get_ref().0;
    // Written so that NaN fails too.
    if (0.0..=MAX_JITTER).contains(&x) {
        x
    } else {
        r.error(
            at(v),
            key,
            format!("must be between 0.0 and {MAX_JITTER:.1} (got {x})"),
        );
        default
    }
}

/// A size in bytes within `range`.
pub(crate) fn size(
    r: &mut Report<'_>,
    value: Option<&Spanned<SizeValue>>,
    key: &str,
    default: u64,
    range: RangeInclusive<u64>,
) -> u64 {
    let Some(value) = value else {
        return default;
    };
    let parsed = match &value.get_ref().0 {
        Scalar::Int(n) => u64::try_from(*n).map_err(|_| "a size cannot be negative".to_string()),
        Scalar::Str(text) => size::parse(text),
    };
    let checked = parsed.and_then(|n| {
        if range.contains(&n) {
            Ok(n)
        } else if *range.end() == u64::MAX {
            Err(format!("must be at least {}", size::format(*range.start())))
        } else {
            Err(format!(
                "must be between {} and {} (got {})",
                size::format(*range.start()),
                size::format(*range.end()),
                size::format(n)
            ))
        }
    });
    checked.unwrap_or_else(|message| {
        r.error(at(value), key, message);
        default
    })
}

/// An integer within `range`, converted to the model's type.
pub(crate) fn int<T>(
    r: &mut Report<'_>,
    value: Option<&Spanned<Int>>,
    key: &str,
    default: T,
    range: RangeInclusive<T>,
) -> T
where
    T: TryFrom<i64> + PartialOrd + Copy + Display,
{
    let Some(value) = value else {
        return default;
    };
    let n = value.get_ref().0;
    match T::try_from(n) {
        Ok(v) if range.contains(&v) => v,
        _ => {
            r.error(
                at(value),
                key,
                format!(
                    "must be between {} and {} (got {n})",
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }
}

/// One of a fixed set of words (`driver = "epoll"`).
pub(crate) fn choice<T: Copy>(
    r: &mut Report<'_>,
    value: Option<&Spanned<String>>,
    key: &str,
    default: T,
    options: &[(&str, T)],
) -> T {
    let Some(value) = value else {
        return default;
    };
    let word = value.get_ref().as_str();
    if let Some(&(_, v)) = options.iter().find(|(name, _)| *name == word) {
        return v;
    }
    let expected: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
    r.error(
        at(value),
        key,
        format!(
            "unknown value {word:?}; expected one of {}",
            expected.join(", ")
        ),
    );
    default
}

/// An IP literal and port. Host names are refused: resolving them would make
/// start-up and reload depend on DNS.
pub(crate) fn address(
    r: &mut Report<'_>,
    value: &Spanned<String>,
    key: &str,
) -> Option<SocketAddr> {
    let text = value.get_ref();
    match text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            r.error(
                at(value),
                key,
                format!(
                    "{text:?} is not an IP address with a port; write e.g. \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are not resolved)"
                ),
            );
            None
        }
    }
}

/// Names end up in logs, metrics labels and references between sections, so
/// they are restricted to characters that need no quoting anywhere.
pub(crate) fn name(r: &mut Report<'_>, value: &Spanned<String>, key: &str) {
    let text = value.get_ref();
    if text.is_empty() {
        r.error(at(value), key, "must not be empty");
    } else if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        r.error(
            at(value),
            key,
            format!("invalid name {text:?}: use only letters, digits, `_` and `-`"),
        );
    }
}

/// A required key that is absent: reported at the table that lacks it (unless
/// it was removed after a type error, which is already reported).
pub(crate) fn required<'v, T>(
    r: &mut Report<'_>,
    value: Option<&'v Spanned<T>>,
    table_at: usize,
    key: &str,
) -> Option<&'v Spanned<T>> {
    if value.is_none() && !r.is_pruned(key) {
        r.error(table_at, key, "required key is missing");
    }
    value
}

/// `"a", "b"` for messages that list the known names.
pub(crate) fn quoted_list<'s>(names: impl IntoIterator<Item = &'s str>) -> String {
    names
        .into_iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
