//! Head serialisation into a caller-reused `Vec<u8>`: after warm-up its
//! capacity covers a head, so writing allocates nothing.
//!
//! Inputs are trusted: they come from heads this crate parsed (already
//! validated) or from the validated config. Nothing here re-checks for CR/LF.

use crate::reason::canonical_reason;

/// `METHOD SP target SP HTTP/1.1 CRLF` (we always speak 1.1 upstream).
pub fn write_request_line(out: &mut Vec<u8>, method: &str, target: &str) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// `HTTP/1.1 SP status SP reason CRLF`; an empty `reason` is replaced by
/// the canonical one. `status` should be 100..=999; it is written as is.
pub fn write_status_line(out: &mut Vec<u8>, status: u16, reason: &str) {
    out.extend_from_slice(b"HTTP/1.1 ");
    write_decimal(out, u64::from(status));
    out.push(b' ');
    let reason = if reason.is_empty() {
        canonical_reason(status)
    } else {
        reason
    };
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `name: value CRLF`.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The whole `Content-Length: n CRLF` line.
pub fn write_content_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"Content-Length: ");
    write_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// The empty line that ends a head.
pub fn finish_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// Decimal digits through a stack buffer (what `itoa` does) instead of
/// `format!`, which would allocate a String.
fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line() {
        let mut out = Vec::new();
        write_request_line(&mut out, "GET", "/a?b");
        assert_eq!(out, b"GET /a?b HTTP/1.1\r\n");
    }

    #[test]
    fn status_line_fills_empty_reason() {
        let mut out = Vec::new();
        write_status_line(&mut out, 200, "");
        write_status_line(&mut out, 404, "Nope");
        write_status_line(&mut out, 299, "");
        assert_eq!(
            out,
            &b"HTTP/1.1 200 OK\r\nHTTP/1.1 404 Nope\r\nHTTP/1.1 299 \r\n"[..]
        );
    }

    #[test]
    fn full_head() {
        let mut out = Vec::new();
        write_status_line(&mut out, 502, "");
        write_header(&mut out, b"Server", b"shardgate");
        write_content_length(&mut out, 0);
        finish_head(&mut out);
        assert_eq!(
            out,
            &b"HTTP/1.1 502 Bad Gateway\r\nServer: shardgate\r\nContent-Length: 0\r\n\r\n"[..]
        );
    }

    #[test]
    fn decimals_match_std_formatting() {
        for n in [0, 1, 9, 10, 99, 100, 12345, 1 << 40, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn reused_buffer_does_not_grow_after_warm_up() {
        let mut out = Vec::with_capacity(256);
        let before = out.capacity();
        for n in 0..1000u64 {
            out.clear();
            write_status_line(&mut out, 200, "");
            write_content_length(&mut out, n * 7919);
            finish_head(&mut out);
        }
        assert_eq!(out.capacity(), before);
    }
}
