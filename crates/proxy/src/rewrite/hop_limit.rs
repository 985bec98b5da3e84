//! Max-Forwards (RFC 9110 §7.6.2): how far an OPTIONS or TRACE request may
//! still travel, and the answer the gateway gives as the final recipient when
//! the count is spent.
//!
//! Only OPTIONS and TRACE carry the limit (the RFC lets every other method
//! ignore it, and nginx, HAProxy and Envoy ignore it everywhere): those two
//! are how a client probes a chain of intermediaries one hop at a time, so a
//! gateway that forwarded `Max-Forwards: 0` would let a probe meant for it
//! reach the origin.

use httparse::Header;
use shardgate_config::HeaderRewrite;

use super::fields::eq_ci;
use super::response::{put_local_head, LocalHead};
use super::wire::{put, put_u64, trim_ows};

pub(crate) const MAX_FORWARDS: &[u8] = b"max-forwards";

/// The methods that honour Max-Forwards, and what the gateway answers when
/// the count reaches it at zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalAnswer {
    /// 200 with no content (RFC 9110 §9.3.7). No `Allow`: the gateway cannot
    /// know what the origin behind the route supports.
    Options,
    /// 200 `message/http` reflecting the request as received, without the
    /// fields that carry credentials (RFC 9110 §9.3.8).
    Trace,
}

impl FinalAnswer {
    /// `Some` for the methods Max-Forwards applies to (case-sensitive,
    /// RFC 9110 §9.1).
    pub fn for_method(method: &str) -> Option<FinalAnswer> {
        match method {
            "OPTIONS" => Some(FinalAnswer::Options),
            "TRACE" => Some(FinalAnswer::Trace),
            _ => None,
        }
    }
}

/// A Max-Forwards value: `1*DIGIT` between optional whitespace; `None` when
/// it is not one. Counts past `u64` saturate: no chain is that long.
pub fn max_forwards(value: &[u8]) -> Option<u64> {
    let digits = trim_ows(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The count the next hop gets, when `method` honours Max-Forwards and the
/// request carries a valid, non-zero one (the lifecycle refused or answered
/// every other case before the request got here).
pub(crate) fn forwarded_count(method: &str, headers: &[Header]) -> Option<u64> {
    FinalAnswer::for_method(method)?;
    let h = headers
        .iter()
        .find(|h| eq_ci(h.name.as_bytes(), MAX_FORWARDS))?;
    max_forwards(h.value).map(|n| n.saturating_sub(1))
}

/// Fields a TRACE reflection leaves out: credentials, which a script that
/// could send TRACE would otherwise read back (cross-site tracing).
const NOT_REFLECTED: [&[u8]; 3] = [b"authorization", b"proxy-authorization", b"cookie"];

/// Calls its argument with every field of a received request, `(name,
/// value)`, in order.
pub type EachField<'a> = &'a dyn Fn(&mut dyn FnMut(&[u8], &[u8]));

/// The request a TRACE answer reflects, as the front end received it.
pub struct Reflected<'a> {
    pub method: &'a str,
    pub target: &'a str,
    /// `"HTTP/1.1"`, `"HTTP/1.0"`; HTTP/3 requests reflect as `"HTTP/1.1"`
    /// (`message/http` has no HTTP/3 syntax).
    pub version: &'a str,
    pub fields: EachField<'a>,
}

impl Reflected<'_> {
    fn each_line(&self, mut f: impl FnMut(&[&[u8]])) {
        f(&[
            self.method.as_bytes(),
            b" ",
            self.target.as_bytes(),
            b" ",
            self.version.as_bytes(),
            b"\r\n",
        ]);
        (self.fields)(&mut |name, value| {
            if !NOT_REFLECTED.iter().any(|n| eq_ci(n, name)) {
                f(&[name, b": ", trim_ows(value), b"\r\n"]);
            }
        });
        f(&[b"\r\n"]);
    }

    fn len(&self) -> u64 {
        let mut n = 0u64;
        self.each_line(|parts| n += parts.iter().map(|p| p.len() as u64).sum::<u64>());
        n
    }
}

/// Writes the gateway's whole answer as the final recipient of an OPTIONS or
/// TRACE request whose Max-Forwards reached zero. The route's response edits
/// apply as to a `respond` route's answer.
pub fn write_final_answer(
    out: &mut Vec<u8>,
    answer: FinalAnswer,
    request: &Reflected<'_>,
    route_headers: &HeaderRewrite,
    keep_alive: bool,
    date: &[u8],
) {
    let (content_type, body_len) = match answer {
        FinalAnswer::Options => (None, 0),
        FinalAnswer::Trace => (Some(&b"message/http"[..]), request.len()),
    };
    let head = LocalHead {
        status: 200,
        configured: &[],
        content_type,
        body_len,
    };
    put_local_head(out, &head, route_headers, keep_alive, date);
    if answer == FinalAnswer::Trace {
        request.each_line(|parts| parts.iter().for_each(|p| put(out, p)));
    }
}

/// `max-forwards: n` for the upstream request head.
pub(crate) fn put_max_forwards(out: &mut Vec<u8>, n: u64) {
    put(out, MAX_FORWARDS);
    put(out, b": ");
    put_u64(out, n);
    put(out, b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_are_a_count() {
        assert_eq!(max_forwards(b"0"), Some(0));
        assert_eq!(max_forwards(b" 12 "), Some(12));
        assert_eq!(max_forwards(b"99999999999999999999999"), Some(u64::MAX));
        for bad in [&b""[..], b" ", b"-1", b"+1", b"1,2", b"0x1", b"1 2", b"one"] {
            assert_eq!(
                max_forwards(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_options_and_trace_are_limited() {
        let hs = [Header {
            name: "Max-Forwards",
            value: b"3",
        }];
        assert_eq!(forwarded_count("OPTIONS", &hs), Some(2));
        assert_eq!(forwarded_count("TRACE", &hs), Some(2));
        assert_eq!(forwarded_count("GET", &hs), None);
        assert_eq!(forwarded_count("options", &hs), None);
        assert_eq!(forwarded_count("TRACE", &[]), None);
    }

    #[test]
    fn a_trace_answer_reflects_the_request_without_credentials() {
        let fields = |f: &mut dyn FnMut(&[u8], &[u8])| {
            f(b"Host", b"example.com");
            f(b"Authorization", b"Basic c2VjcmV0");
            f(b"X-Probe", b" 1 ");
            f(b"Cookie", b"session=secret");
        };
        let request = Reflected {
            method: "TRACE",
            target: "/a?b",
            version: "HTTP/1.1",
            fields: &fields,
        };
        let mut out = Vec::new();
        let edits = HeaderRewrite::default();
        write_final_answer(&mut out, FinalAnswer::Trace, &request, &edits, true, b"D");
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            body,
            "TRACE /a?b HTTP/1.1\r\nHost: example.com\r\nX-Probe: 1\r\n\r\n"
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-type: message/http"), "{head}");
        let len = format!("\r\ncontent-length: {}", body.len());
        assert!(head.contains(&len), "{head}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn an_options_answer_is_an_empty_200() {
        let fields = |_: &mut dyn FnMut(&[u8], &[u8])| {};
        let request = Reflected {
            method: "OPTIONS",
            target: "*",
            version: "HTTP/1.1",
            fields: &fields,
        };
        let mut out = Vec::new();
        let edits = HeaderRewrite::default();
        write_final_answer(
            &mut out,
            FinalAnswer::Options,
            &request,
            &edits,
            false,
            b"D",
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\r\ncontent-length: 0\r\n"), "{text}");
        assert!(text.ends_with("connection: close\r\n\r\n"), "{text}");
    }
}
