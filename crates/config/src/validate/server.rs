//! `[server]`, `[server.timeouts]`, `[server.limits]`.

use std::path::Path;

use serde_spanned::Spanned;

use super::value::{at, choice, duration, int, size};
use crate::model::{Driver, HttpLimits, ServerConfig, ServerTimeouts, Steering};
use crate::raw::{RawLimits, RawServer, RawTimeouts, SizeValue};
use crate::report::Report;
use crate::size::format as fmt_size;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

pub(crate) const MAX_SHARDS: usize = 1024;
/// Slots are allocated up front; this keeps a typo from reserving gigabytes.
pub(crate) const MAX_CONNECTIONS_PER_SHARD: usize = 1 << 20;
pub(crate) const BUFFER_SIZE: std::ops::RangeInclusive<u64> = 4 * KIB..=MIB;
/// httparse is given a fixed array of this many header slots.
pub(crate) const MAX_HEADERS: usize = 256;

const DRIVERS: [(&str, Driver); 3] = [
    ("auto", Driver::Auto),
    ("io_uring", Driver::IoUring),
    ("epoll", Driver::Epoll),
];
const STEERINGS: [(&str, Steering); 3] = [
    ("cpu", Steering::Cpu),
    ("hash", Steering::Hash),
    ("none", Steering::None),
];

pub(crate) fn server(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawServer>>,
    dir: &Path,
) -> ServerConfig {
    let d = ServerConfig::default();
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return d;
    };
    let buffer_size = size(
        r,
        raw.buffer_size.as_ref(),
        "server.buffer_size",
        as_u64(d.buffer_size),
        BUFFER_SIZE,
    );
    let limits_raw = raw.limits.as_ref().map(Spanned::get_ref);
    let limits = limits(r, limits_raw);
    // A request head must fit in the buffer a connection reads it into.
    let head_raw = limits_raw.and_then(|l| l.max_header_bytes.as_ref());
    order(
        r,
        (
            as_u64(limits.max_header_bytes),
            head_raw,
            "server.limits.max_header_bytes",
        ),
        (buffer_size, raw.buffer_size.as_ref(), "server.buffer_size"),
    );
    ServerConfig {
        shards: int(
            r,
            raw.shards.as_ref(),
            "server.shards",
            d.shards,
            0..=MAX_SHARDS,
        ),
        driver: choice(r, raw.driver.as_ref(), "server.driver", d.driver, &DRIVERS),
        steering: choice(
            r,
            raw.steering.as_ref(),
            "server.steering",
            d.steering,
            &STEERINGS,
        ),
        max_connections_per_shard: int(
            r,
            raw.max_connections_per_shard.as_ref(),
            "server.max_connections_per_shard",
            d.max_connections_per_shard,
            1..=MAX_CONNECTIONS_PER_SHARD,
        ),
        buffer_size: usize::try_from(buffer_size).unwrap_or(d.buffer_size),
        splice: raw.splice.as_ref().map_or(d.splice, |v| *v.get_ref()),
        normalize_path: raw
            .normalize_path
            .as_ref()
            .map_or(d.normalize_path, |v| *v.get_ref()),
        merge_slashes: raw
            .merge_slashes
            .as_ref()
            .map_or(d.merge_slashes, |v| *v.get_ref()),
        pid_file: raw.pid_file.as_ref().and_then(|v| {
            let checked = match v.get_ref().as_str() {
                "" => Err("must not be empty; name a file".to_string()),
                text => super::logging::check_file(text, dir),
            };
            checked
                .map_err(|m| r.error(at(v), "server.pid_file", m))
                .ok()
        }),
        timeouts: timeouts(r, raw.timeouts.as_ref().map(Spanned::get_ref)),
        limits,
    }
}

fn timeouts(r: &mut Report<'_>, raw: Option<&RawTimeouts>) -> ServerTimeouts {
    let d = ServerTimeouts::default();
    let Some(raw) = raw else {
        return d;
    };
    let k = "server.timeouts";
    ServerTimeouts {
        header_read: duration(
            r,
            raw.header_read.as_ref(),
            &format!("{k}.header_read"),
            d.header_read,
        ),
        keepalive: duration(
            r,
            raw.keepalive.as_ref(),
            &format!("{k}.keepalive"),
            d.keepalive,
        ),
        body_read: duration(
            r,
            raw.body_read.as_ref(),
            &format!("{k}.body_read"),
            d.body_read,
        ),
        send: duration(r, raw.send.as_ref(), &format!("{k}.send"), d.send),
        shutdown_grace: duration(
            r,
            raw.shutdown_grace.as_ref(),
            &format!("{k}.shutdown_grace"),
            d.shutdown_grace,
        ),
        tls_handshake: duration(
            r,
            raw.tls_handshake.as_ref(),
            &format!("{k}.tls_handshake"),
            d.tls_handshake,
        ),
        lingering_time: duration(
            r,
            raw.lingering_time.as_ref(),
            &format!("{k}.lingering_time"),
            d.lingering_time,
        ),
        lingering_timeout: duration(
            r,
            raw.lingering_timeout.as_ref(),
            &format!("{k}.lingering_timeout"),
            d.lingering_timeout,
        ),
    }
}

fn limits(r: &mut Report<'_>, raw: Option<&RawLimits>) -> HttpLimits {
    let d = HttpLimits::default();
    let Some(raw) = raw else {
        return d;
    };
    let line = size(
        r,
        raw.max_request_line.as_ref(),
        "server.limits.max_request_line",
        as_u64(d.max_request_line),
        1..=MIB,
    );
    let head = size(
        r,
        raw.max_header_bytes.as_ref(),
        "server.limits.max_header_bytes",
        as_u64(d.max_header_bytes),
        1..=MIB,
    );
    // The request line is part of the head, so it cannot be allowed to be longer.
    order(
        r,
        (
            line,
            raw.max_request_line.as_ref(),
            "server.limits.max_request_line",
        ),
        (
            head,
            raw.max_header_bytes.as_ref(),
            "server.limits.max_header_bytes",
        ),
    );
    HttpLimits {
        max_request_line: usize::try_from(line).unwrap_or(d.max_request_line),
        max_header_bytes: usize::try_from(head).unwrap_or(d.max_header_bytes),
        max_headers: int(
            r,
            raw.max_headers.as_ref(),
            "server.limits.max_headers",
            d.max_headers,
            1..=MAX_HEADERS,
        ),
        max_body_bytes: size(
            r,
            raw.max_body_bytes.as_ref(),
            "server.limits.max_body_bytes",
            d.max_body_bytes,
            0..=u64::MAX,
        ),
        max_in_flight: super::flow::max_in_flight(
            r,
            raw.max_in_flight.as_ref(),
            "server.limits.max_in_flight",
        ),
    }
}

type Bound<'v> = (u64, Option<&'v Spanned<SizeValue>>, &'static str);

/// Reports `small > big`, at whichever of the two the file sets (the smaller
/// one first); when neither is written the defaults are consistent.
fn order(r: &mut Report<'_>, small: Bound<'_>, big: Bound<'_>) {
    let (s, s_raw, s_key) = small;
    let (b, b_raw, b_key) = big;
    if s <= b {
        return;
    }
    if let Some(v) = s_raw {
        r.error(
            at(v),
            s_key,
            format!("must not be larger than `{b_key}` ({})", fmt_size(b)),
        );
    } else if let Some(v) = b_raw {
        r.error(
            at(v),
            b_key,
            format!("must be at least `{s_key}` ({})", fmt_size(s)),
        );
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
