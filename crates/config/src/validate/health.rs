//! `[upstream.health_check]`: active probes.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde_spanned::Spanned;

use super::value::{at, choice, duration, duration_within, int, jitter, MAX_DURATION};
use crate::model::{HealthCheckConfig, HealthCheckKind, StatusRange};
use crate::raw::RawHealthCheck;
use crate::report::Report;

const KINDS: [(&str, HealthCheckKind); 2] = [
    ("tcp", HealthCheckKind::Tcp),
    ("http", HealthCheckKind::Http),
];
/// More often than this is load on the servers, not information.
pub(crate) const INTERVAL: RangeInclusive<Duration> = Duration::from_millis(100)..=MAX_DURATION;
/// Beyond this a server takes minutes to change state at usual intervals.
pub(crate) const MAX_THRESHOLD: u32 = 100;
/// The probe's request line and `Host` are written into one small buffer.
pub(crate) const MAX_PATH: usize = 1024;
pub(crate) const MAX_HOST: usize = 255;

/// `raw` is the table if written (`None`: no active checks); `base` its key
/// path (`upstream[0].health_check`).
pub(crate) fn health_check(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawHealthCheck>>,
    base: &str,
) -> Option<HealthCheckConfig> {
    let raw = raw?.get_ref();
    let d = HealthCheckConfig::default();
    let key = |field: &str| format!("{base}.{field}");
    let kind = choice(r, raw.kind.as_ref(), &key("kind"), d.kind, &KINDS);
    // The HTTP-only keys are refused on a TCP check rather than ignored: a
    // `path` that silently does nothing is a check that tests less than its
    // author thinks.
    if kind == HealthCheckKind::Tcp {
        let why = if raw.kind.is_some() {
            "only for kind = \"http\""
        } else {
            "only for kind = \"http\" (the default kind is \"tcp\")"
        };
        for (field, pos) in [
            ("path", raw.path.as_ref().map(at)),
            ("host", raw.host.as_ref().map(at)),
            ("expect_status", raw.expect_status.as_ref().map(at)),
        ] {
            if let Some(pos) = pos {
                r.error(pos, key(field), why);
            }
        }
    }
    let path = match raw.path.as_ref() {
        Some(v) => text(v.get_ref(), MAX_PATH, true).map_or_else(
            |message| {
                r.error(at(v), key("path"), message);
                d.path.clone()
            },
            str::to_string,
        ),
        None => d.path.clone(),
    };
    let host = raw.host.as_ref().and_then(|v| {
        text(v.get_ref(), MAX_HOST, false)
            .map_err(|message| r.error(at(v), key("host"), message))
            .ok()
            .map(str::to_string)
    });
    let expect_status = match raw.expect_status.as_ref() {
        Some(v) => status_range(v.get_ref()).unwrap_or_else(|message| {
            r.error(at(v), key("expect_status"), message);
            d.expect_status
        }),
        None => d.expect_status,
    };
    let interval = duration_within(
        r,
        raw.interval.as_ref(),
        &key("interval"),
        d.interval,
        INTERVAL,
    );
    // The default timeout (2s) shortens to a shorter interval set alone.
    let timeout = duration(
        r,
        raw.timeout.as_ref(),
        &key("timeout"),
        d.timeout.min(interval),
    );
    let timeout = match raw.timeout.as_ref() {
        Some(v) if timeout > interval => {
            r.error(
                at(v),
                key("timeout"),
                format!(
                    "must not be longer than `interval` ({})",
                    crate::duration::format(interval)
                ),
            );
            interval
        }
        _ => timeout,
    };
    Some(HealthCheckConfig {
        kind,
        path,
        host,
        expect_status,
        interval,
        jitter: jitter(r, raw.jitter.as_ref(), &key("jitter"), d.jitter),
        timeout,
        healthy_threshold: int(
            r,
            raw.healthy_threshold.as_ref(),
            &key("healthy_threshold"),
            d.healthy_threshold,
            1..=MAX_THRESHOLD,
        ),
        unhealthy_threshold: int(
            r,
            raw.unhealthy_threshold.as_ref(),
            &key("unhealthy_threshold"),
            d.unhealthy_threshold,
            1..=MAX_THRESHOLD,
        ),
    })
}

/// A path (starting with `/`) or a host: visible ASCII without spaces, so it
/// can be written into a request head as is.
fn text(value: &str, max: usize, is_path: bool) -> Result<&str, String> {
    if value.is_empty() {
        return Err("must not be empty".to_string());
    }
    if is_path && !value.starts_with('/') {
        return Err(format!("{value:?} must start with `/`"));
    }
    if value.len() > max {
        return Err(format!("must be at most {max} bytes long"));
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "{value:?} contains {c:?}: only visible ASCII without spaces (percent-encode the rest)"
        ));
    }
    Ok(value)
}

/// `"200-399"` or `"204"`: statuses 100..=599, low end first.
pub(crate) fn status_range(text: &str) -> Result<StatusRange, String> {
    let hint = "write a status (\"200\") or a range (\"200-399\") of statuses 100..=599";
    let (low, high) = match text.split_once('-') {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let parse = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|n| (100..=599).contains(n) && s.bytes().all(|b| b.is_ascii_digit()))
    };
    match (parse(low), parse(high)) {
        (Some(low), Some(high)) if low <= high => Ok(StatusRange { low, high }),
        (Some(_), Some(_)) => Err(format!("{text:?}: the range must go from low to high")),
        _ => Err(format!("{text:?}: {hint}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges() {
        assert_eq!(
            status_range("200-399"),
            Ok(StatusRange {
                low: 200,
                high: 399
            })
        );
        assert_eq!(
            status_range("204"),
            Ok(StatusRange {
                low: 204,
                high: 204
            })
        );
        for bad in [
            "",
            "-",
            "200-",
            "-399",
            "99",
            "600",
            "399-200",
            "2xx",
            "+200",
            "200-399-500",
        ] {
            assert!(status_range(bad).is_err(), "{bad:?}");
        }
    }
}
