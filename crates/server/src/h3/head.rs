//! HTTP/3 heads on both sides of the HTTP/1.1 writers.
//!
//! The proxy crate writes every outgoing head as HTTP/1.1 bytes (edits,
//! forwarding fields, `via`, framing). HTTP/3 reuses those writers and
//! converts: a client-bound HTTP/1.1 head becomes an `http::Response` minus
//! the fields HTTP/3 forbids, so header rules cannot drift between the
//! protocols. The copy costs a parse of a head we wrote ourselves; HTTP/3's
//! own header handling (QPACK, `HeaderMap`) allocates far more than that.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};

/// RFC 9114 §4.2: connection-specific fields are malformed in HTTP/3.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Why a request head is malformed (RFC 9114 §4.1.2): answered with a stream
/// error H3_MESSAGE_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    ConnectionSpecific,
    Te,
    ContentLength,
    MissingAuthority,
    /// `:authority` or Host that is not `host[:port]` (userinfo included,
    /// §4.3.1), two Host fields, or the two disagreeing (§4.3.1: "MUST
    /// contain the same value").
    BadAuthority,
}

/// The request's declared body length, after checking what HTTP/3 forbids
/// and what the h3 crate does not check itself.
pub fn validate(req: &Request<()>) -> Result<Option<u64>, Malformed> {
    let h = req.headers();
    if CONNECTION_SPECIFIC.iter().any(|n| h.contains_key(*n)) {
        return Err(Malformed::ConnectionSpecific);
    }
    // §4.2: TE may only say "trailers".
    for v in h.get_all("te") {
        if !v.as_bytes().eq_ignore_ascii_case(b"trailers") {
            return Err(Malformed::Te);
        }
    }
    authority(req)?;
    content_length(h)
}

/// §4.3.1: a request needs `:authority` or Host (CONNECT excluded: refused
/// earlier by admit), each a valid `host[:port]` — no userinfo, which would
/// route by one host and reach an origin that reads another — and equal when
/// both are present. Host is what the gateway routes on and forwards.
fn authority(req: &Request<()>) -> Result<(), Malformed> {
    let h = req.headers();
    let mut hosts = h.get_all("host").iter();
    let host = hosts.next().map(|v| v.as_bytes());
    if hosts.next().is_some() {
        return Err(Malformed::BadAuthority);
    }
    let authority = req.uri().authority().map(|a| a.as_str().as_bytes());
    let valid = |v: &[u8]| shardgate_http::is_valid_host(v, false);
    match (authority, host) {
        (None, None) => Err(Malformed::MissingAuthority),
        (Some(a), _) if !valid(a) => Err(Malformed::BadAuthority),
        (_, Some(v)) if !valid(v) => Err(Malformed::BadAuthority),
        (Some(a), Some(v)) if !a.eq_ignore_ascii_case(v) => Err(Malformed::BadAuthority),
        _ => Ok(()),
    }
}

/// One Content-Length (repeated identical values are one), as a number.
fn content_length(h: &HeaderMap) -> Result<Option<u64>, Malformed> {
    let mut found: Option<u64> = None;
    for v in h.get_all("content-length") {
        for part in v.as_bytes().split(|&b| b == b',') {
            let s = std::str::from_utf8(part).map_err(|_| Malformed::ContentLength)?;
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Malformed::ContentLength);
            }
            let n: u64 = s.parse().map_err(|_| Malformed::ContentLength)?;
            match found {
                Some(f) if f != n => return Err(Malformed::ContentLength),
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// What the request's `Expect` fields ask (RFC 9110 §10.1.1): `Ok(true)` for
/// `100-continue` (the client may wait for a 100 before its body), `Ok(false)`
/// for none, `Err` for any other expectation (answered 417, as on HTTP/1.1).
pub fn expects_continue(h: &HeaderMap) -> Result<bool, ()> {
    let mut any = false;
    for v in h.get_all("expect") {
        if !v.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return Err(());
        }
        any = true;
    }
    Ok(any)
}

/// Converts a complete HTTP/1.1 response head written by the proxy crate
/// into an HTTP/3 response, dropping connection-specific fields. `None`
/// only if the bytes are not a head (a bug: they are our own output).
pub fn h1_to_h3(head: &[u8]) -> Option<(Response<()>, usize)> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut res = httparse::Response::new(&mut slots);
    let len = match res.parse(head) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let status = StatusCode::from_u16(res.code?).ok()?;
    let mut out = Response::new(());
    *out.status_mut() = status;
    let map = out.headers_mut();
    for h in res.headers.iter() {
        let lower = h.name.to_ascii_lowercase();
        if CONNECTION_SPECIFIC.contains(&lower.as_str()) {
            continue;
        }
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    Some((out, len))
}

/// An upstream's trailer section (validated by the chunked decoder) as
/// HTTP/3 trailers, minus fields that may not be trailers.
pub fn trailer_map(section: &[u8]) -> HeaderMap {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut map = HeaderMap::new();
    if let Ok(httparse::Status::Complete((_, fields))) =
        httparse::parse_headers(section, &mut slots)
    {
        for f in fields {
            let lower = f.name.to_ascii_lowercase();
            if !shardgate_http::forwardable_trailer(lower.as_bytes()) {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(lower.as_bytes()),
                HeaderValue::from_bytes(f.value),
            ) {
                map.append(n, v);
            }
        }
    }
    map
}

/// The request's `cookie` fields joined with `"; "` when there are several
/// (RFC 9114 §4.2.1: HTTP/3 clients may split them; an HTTP/1.1 origin
/// expects one, RFC 6265 §5.4). `None` for zero or one: nothing to copy.
pub fn joined_cookie(h: &HeaderMap) -> Option<Vec<u8>> {
    let mut all = h.get_all("cookie").iter();
    let first = all.next()?;
    let mut rest = all.peekable();
    rest.peek()?;
    let mut out = first.as_bytes().to_vec();
    for v in rest {
        out.extend_from_slice(b"; ");
        out.extend_from_slice(v.as_bytes());
    }
    Some(out)
}

/// The request's fields as httparse headers for the HTTP/1.1 writer (which
/// drops hop-by-hop fields and `host` itself). Borrowed: nothing is copied,
/// except that several `cookie` fields go as `cookie` (from
/// [`joined_cookie`]) in the first one's place.
pub fn h1_fields<'a>(
    h: &'a HeaderMap,
    cookie: Option<&'a [u8]>,
    out: &mut Vec<httparse::Header<'a>>,
) {
    out.clear();
    let mut cookie_sent = false;
    for (name, value) in h {
        let value = match cookie {
            Some(joined) if name == http::header::COOKIE => {
                if cookie_sent {
                    continue;
                }
                cookie_sent = true;
                joined
            }
            _ => value.as_bytes(),
        };
        out.push(httparse::Header {
            name: name.as_str(),
            value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("https://example.com/x");
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn connection_specific_fields_and_bad_te_are_malformed() {
        for n in CONNECTION_SPECIFIC {
            assert_eq!(
                validate(&req(&[(n, "x")])),
                Err(Malformed::ConnectionSpecific),
                "{n}"
            );
        }
        assert_eq!(validate(&req(&[("te", "gzip")])), Err(Malformed::Te));
        assert_eq!(validate(&req(&[("te", "trailers")])), Ok(None));
    }

    #[test]
    fn content_length_must_be_one_number() {
        assert_eq!(validate(&req(&[("content-length", "12")])), Ok(Some(12)));
        assert_eq!(
            validate(&req(&[("content-length", "12, 12")])),
            Ok(Some(12))
        );
        for bad in ["12, 13", "-1", "0x10", "", "1 2", "99999999999999999999999"] {
            assert_eq!(
                validate(&req(&[("content-length", bad)])),
                Err(Malformed::ContentLength),
                "{bad:?}"
            );
        }
        let two = Request::builder()
            .uri("https://example.com/")
            .header("content-length", "1")
            .header("content-length", "2")
            .body(())
            .expect("request");
        assert_eq!(validate(&two), Err(Malformed::ContentLength));
    }

    #[test]
    fn a_request_without_authority_or_host_is_malformed() {
        let r = Request::builder().uri("/x").body(()).expect("request");
        assert_eq!(validate(&r), Err(Malformed::MissingAuthority));
        let r = Request::builder()
            .uri("/x")
            .header("host", "a.example")
            .body(())
            .expect("request");
        assert_eq!(validate(&r), Ok(None));
    }

    #[test]
    fn userinfo_bad_hosts_and_disagreeing_fields_are_malformed() {
        let with = |uri: &str, hosts: &[&str]| {
            let mut b = Request::builder().uri(uri);
            for h in hosts {
                b = b.header("host", *h);
            }
            validate(&b.body(()).expect("request"))
        };
        for uri in [
            "https://user:pw@secret.example/x",
            "https://evil.example@proxied.example/x",
            "https://a.example:99999/x",
        ] {
            assert_eq!(with(uri, &[]), Err(Malformed::BadAuthority), "{uri}");
        }
        assert_eq!(with("/x", &["u@a.example"]), Err(Malformed::BadAuthority));
        assert_eq!(
            with("/x", &["a.example", "b.example"]),
            Err(Malformed::BadAuthority)
        );
        assert_eq!(
            with("https://a.example/x", &["b.example"]),
            Err(Malformed::BadAuthority)
        );
        assert_eq!(with("https://a.example/x", &["A.example"]), Ok(None));
        assert_eq!(with("https://a.example:8443/x", &[]), Ok(None));
    }

    #[test]
    fn several_cookie_fields_go_upstream_as_one() {
        let r = req(&[
            ("cookie", "a=1"),
            ("x", "y"),
            ("cookie", "b=2"),
            ("cookie", "c=3"),
        ]);
        let joined = joined_cookie(r.headers());
        assert_eq!(joined.as_deref(), Some(&b"a=1; b=2; c=3"[..]));
        let mut out = Vec::new();
        h1_fields(r.headers(), joined.as_deref(), &mut out);
        let got: Vec<(&str, &[u8])> = out.iter().map(|h| (h.name, h.value)).collect();
        assert_eq!(got, [("cookie", &b"a=1; b=2; c=3"[..]), ("x", b"y")]);
        let one = req(&[("cookie", "a=1")]);
        assert_eq!(joined_cookie(one.headers()), None);
    }

    #[test]
    fn trailer_sections_become_maps_without_forbidden_fields() {
        let t = trailer_map(b"X-Sum: 12\r\ncontent-length: 5\r\nx-b: 2\r\n\r\n");
        assert_eq!(t.get("x-sum").map(|v| v.as_bytes()), Some(&b"12"[..]));
        assert_eq!(t.get("x-b").map(|v| v.as_bytes()), Some(&b"2"[..]));
        assert!(t.get("content-length").is_none());
        assert!(trailer_map(b"\r\n").is_empty());
    }

    #[test]
    fn h1_heads_lose_connection_fields_and_keep_the_rest() {
        let head = b"HTTP/1.1 201 Created\r\nServer: shardgate\r\nconnection: close\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\ncontent-length: 5\r\n\r\nhello";
        let (res, len) = h1_to_h3(head).expect("head");
        assert_eq!(len, head.len() - 5);
        assert_eq!(res.status(), 201);
        let h = res.headers();
        assert!(h.get("connection").is_none() && h.get("transfer-encoding").is_none());
        assert_eq!(
            h.get("server").map(|v| v.as_bytes()),
            Some(&b"shardgate"[..])
        );
        assert_eq!(h.get_all("x-a").iter().count(), 2);
        assert_eq!(
            h.get("content-length").map(|v| v.as_bytes()),
            Some(&b"5"[..])
        );
        assert!(h1_to_h3(b"HTTP/1.1 200 OK\r\n").is_none(), "incomplete");
    }
}
