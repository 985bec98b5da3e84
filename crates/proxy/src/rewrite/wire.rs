//! Byte-level writers for HTTP/1.1 heads into a caller-owned buffer.
//!
//! `Vec::extend_from_slice` only reallocates while the caller's buffer is still
//! growing to its working size; after that every write is a copy.

use std::io::Write as _;
use std::net::IpAddr;

use crate::status::reason;

pub(crate) fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
}

/// `name: value\r\n`
pub(crate) fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    put(out, name);
    put(out, b": ");
    put(out, value);
    put(out, b"\r\n");
}

/// Decimal without `format!` (which would allocate a `String`).
pub(crate) fn put_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put(out, &digits[i..]);
}

/// IPv4-mapped IPv6 addresses (from dual-stack sockets) are written as the IPv4
/// address they are, which is what log pipelines downstream expect.
pub(crate) fn put_ip(out: &mut Vec<u8>, ip: IpAddr) {
    // `Display` for IP addresses formats on the stack; writing into a Vec cannot
    // fail, so the `io::Result` carries nothing.
    let _ = write!(out, "{}", ip.to_canonical());
}

/// `HTTP/1.1 200 OK\r\n`. Codes outside 100–999 cannot be written as three digits;
/// they are replaced by `fallback` so the head stays parseable.
pub(crate) fn put_status_line(out: &mut Vec<u8>, status: u16, phrase: &str, fallback: u16) {
    let (status, phrase) = if (100..=999).contains(&status) {
        (status, phrase)
    } else {
        (fallback, reason(fallback))
    };
    let phrase = if phrase.is_empty() || !is_field_value(phrase.as_bytes()) {
        reason(status)
    } else {
        phrase
    };
    put(out, b"HTTP/1.1 ");
    put_u64(out, u64::from(status));
    put(out, b" ");
    put(out, phrase.as_bytes());
    put(out, b"\r\n");
}

/// Strips optional whitespace (SP / HTAB) around a field value (RFC 9110 §5.5).
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| b != b' ' && b != b'\t');
    let end = v.iter().rposition(|&b| b != b' ' && b != b'\t');
    match (start, end) {
        (Some(s), Some(e)) => v.get(s..=e).unwrap_or_default(),
        _ => &[],
    }
}

/// RFC 9110 §5.6.2 token: what a field name must be.
pub(crate) fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 §5.5 field-value bytes: no CR, LF, NUL or other controls except HTAB.
/// Configured values are checked before writing so that a bad config entry cannot
/// split a head.
pub(crate) fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        for n in [0u64, 7, 10, 99, 100, 12345, 1 << 40, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn ips() {
        let mut out = Vec::new();
        put_ip(&mut out, "::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(out, b"10.0.0.1");
        out.clear();
        put_ip(&mut out, "2001:db8::1".parse().unwrap());
        assert_eq!(out, b"2001:db8::1");
    }

    #[test]
    fn trimming_and_classes() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert!(is_token(b"X-Foo_1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(is_field_value(b"a\tb \x80"));
        assert!(!is_field_value(b"a\r\nb"));
        assert!(!is_field_value(b"a\0"));
    }

    #[test]
    fn status_lines() {
        let mut out = Vec::new();
        put_status_line(&mut out, 200, "OK", 502);
        put_status_line(&mut out, 200, "", 502);
        put_status_line(&mut out, 599, "", 502);
        put_status_line(&mut out, 404, "Nope\r\nX: y", 502);
        put_status_line(&mut out, 42, "Odd", 502);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nHTTP/1.1 599 \r\nHTTP/1.1 404 Not Found\r\nHTTP/1.1 502 Bad Gateway\r\n"
        );
    }
}
