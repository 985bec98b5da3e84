//! `[listener.quic]`: the QUIC transport of an `h3` listener.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde_spanned::Spanned;

use super::value::{at, duration_within, int, jitter};
use crate::model::QuicConfig;
use crate::raw::RawQuic;
use crate::report::Report;

/// The table is allocated per shard at start-up, so its size is bounded like
/// `max_connections_per_shard`.
pub(crate) const MAX_CONNECTIONS: usize = 1 << 20;
/// Each open stream holds state; a client needs far fewer in flight.
pub(crate) const MAX_STREAMS: u32 = 10_000;
/// Shorter and a connection would not survive one lost flight of packets;
/// longer and dead clients hold table slots for no purpose.
pub(crate) const IDLE_TIME: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(600);
/// QUIC-LB leaves room for the server id, a nonce and a length byte in a
/// 20-byte connection ID; 6 bytes identify far more servers than any fleet has.
pub(crate) const MAX_SERVER_ID_BYTES: usize = 6;

/// `raw` is the table if written (defaults otherwise); `base` its key path
/// (`listener[0].quic`).
pub(crate) fn quic(r: &mut Report<'_>, raw: Option<&Spanned<RawQuic>>, base: &str) -> QuicConfig {
    let d = QuicConfig::default();
    let Some(raw) = raw else {
        return d;
    };
    let raw = raw.get_ref();
    let key = |field: &str| format!("{base}.{field}");
    let server_id = match raw.server_id.as_ref() {
        Some(v) => server_id(v.get_ref()).unwrap_or_else(|message| {
            r.error(at(v), key("server_id"), message);
            d.server_id.clone()
        }),
        None => d.server_id.clone(),
    };
    QuicConfig {
        max_connections: int(
            r,
            raw.max_connections.as_ref(),
            &key("max_connections"),
            d.max_connections,
            1..=MAX_CONNECTIONS,
        ),
        max_idle_time: duration_within(
            r,
            raw.max_idle_time.as_ref(),
            &key("max_idle_time"),
            d.max_idle_time,
            IDLE_TIME,
        ),
        idle_jitter: jitter(
            r,
            raw.idle_jitter.as_ref(),
            &key("idle_jitter"),
            d.idle_jitter,
        ),
        max_streams_per_connection: int(
            r,
            raw.max_streams_per_connection.as_ref(),
            &key("max_streams_per_connection"),
            d.max_streams_per_connection,
            1..=MAX_STREAMS,
        ),
        retry: raw.retry.unwrap_or(d.retry),
        retry_threshold: int(
            r,
            raw.retry_threshold.as_ref(),
            &key("retry_threshold"),
            d.retry_threshold,
            0..=MAX_CONNECTIONS,
        ),
        early_data: raw.early_data.unwrap_or(d.early_data),
        server_id,
    }
}

/// `"0a1b"` → `[0x0a, 0x1b]`: hex, two digits per byte, either case. Written
/// as a string (not an integer) so that leading zero bytes are kept: they are
/// part of what an L4 balancer matches.
pub(crate) fn server_id(text: &str) -> Result<Vec<u8>, String> {
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "{text:?} is not hexadecimal ({bad:?}); write bytes as hex digits, e.g. \"0a1b\""
        ));
    }
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "{text:?} has an odd number of hex digits; each byte is two (e.g. \"0{text}\")"
        ));
    }
    if text.len() > 2 * MAX_SERVER_ID_BYTES {
        return Err(format!(
            "{text:?} is {} bytes; at most {MAX_SERVER_ID_BYTES} ({} hex digits)",
            text.len() / 2,
            2 * MAX_SERVER_ID_BYTES
        ));
    }
    // All ASCII hex digits, even count: every pair is a byte.
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("{text:?} is not hexadecimal"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id_is_hex_bytes() {
        assert_eq!(server_id(""), Ok(vec![]));
        assert_eq!(server_id("0a1b"), Ok(vec![0x0a, 0x1b]));
        assert_eq!(server_id("00FF"), Ok(vec![0x00, 0xff]));
        assert_eq!(
            server_id("0123456789ab"),
            Ok(vec![0x01, 0x23, 0x45, 0x67, 0x89, 0xab])
        );
    }

    #[test]
    fn server_id_rejects_odd_non_hex_and_long_values() {
        for (input, needle) in [
            (
                "abc",
                "odd number of hex digits; each byte is two (e.g. \"0abc\")",
            ),
            ("0g", "is not hexadecimal ('g')"),
            ("0x0a", "is not hexadecimal ('x')"),
            ("0a 1b", "is not hexadecimal (' ')"),
            ("é0", "is not hexadecimal ('é')"),
            ("0123456789abcd", "is 7 bytes; at most 6 (12 hex digits)"),
        ] {
            let err = server_id(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }
}
