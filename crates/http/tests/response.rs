//! Response-head parsing through the public API.

use shardgate_http::{parse_response, BodyKind, Error, HeaderStore, Limits, Parsed, ResponseHead};

fn parse_as(buf: &[u8], head_request: bool) -> Result<Parsed<ResponseHead<'_>>, Error> {
    let store = Box::leak(Box::new(HeaderStore::new()));
    parse_response(buf, &Limits::default(), store, head_request)
}

fn complete_as(buf: &[u8], head_request: bool) -> ResponseHead<'_> {
    match parse_as(buf, head_request) {
        Ok(Parsed::Complete(head)) => head,
        other => panic!(
            "expected a complete head for {:?}, got {other:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

fn complete(buf: &[u8]) -> ResponseHead<'_> {
    complete_as(buf, false)
}

fn is_error(buf: &[u8]) -> bool {
    parse_as(buf, false).is_err()
}

#[test]
fn simple_response() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
    let head = complete(buf);
    assert_eq!(head.status, 200);
    assert_eq!(head.reason, "OK");
    assert_eq!(head.minor_version, 1);
    assert_eq!(head.head_len, buf.len() - 5);
    assert_eq!(head.body, BodyKind::Length(5));
    assert!(head.keep_alive);
    assert_eq!(head.headers.len(), 2);
    assert_eq!(head.headers[1].value, b"x");
}

#[test]
fn every_prefix_is_partial() {
    let buf = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n";
    for n in 0..buf.len() {
        assert_eq!(
            parse_as(&buf[..n], false),
            Ok(Parsed::Partial),
            "prefix {n}"
        );
    }
    assert_eq!(complete(buf).body, BodyKind::Chunked);
}

#[test]
fn reason_phrase_variants() {
    assert_eq!(
        complete(b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").reason,
        ""
    );
    assert_eq!(
        complete(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").reason,
        ""
    );
    assert_eq!(
        complete(b"HTTP/1.1 200 All Good\tok\r\nContent-Length: 0\r\n\r\n").reason,
        "All Good\tok"
    );
}

#[test]
fn bodiless_statuses_and_head_requests() {
    for status in [100, 101, 103, 204, 304] {
        let buf = format!("HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n");
        let head = complete(buf.as_bytes());
        assert_eq!(head.body, BodyKind::None, "{status}");
        assert!(head.keep_alive, "{status}");
    }
    let head = complete_as(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", true);
    assert_eq!(head.body, BodyKind::None);
    let head = complete_as(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        true,
    );
    assert_eq!(head.body, BodyKind::None);
    // no framing fields and a HEAD request: nothing to read, connection reusable
    let head = complete_as(b"HTTP/1.1 200 OK\r\n\r\n", true);
    assert_eq!(head.body, BodyKind::None);
    assert!(head.keep_alive);
}

#[test]
fn close_delimited_body_ends_keep_alive() {
    let head = complete(b"HTTP/1.1 200 OK\r\nServer: old\r\n\r\nbody until close");
    assert_eq!(head.body, BodyKind::CloseDelimited);
    assert!(!head.keep_alive);
}

#[test]
fn keep_alive_matrix() {
    let cases: [(&[u8], bool); 5] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            false,
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
            true,
        ),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false),
    ];
    for (buf, want) in cases {
        assert_eq!(
            complete(buf).keep_alive,
            want,
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn ambiguous_framing_is_an_error() {
    for buf in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        // even where no body follows, contradictory fields mean a broken upstream
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert!(is_error(buf), "{:?}", String::from_utf8_lossy(buf));
    }
}

#[test]
fn malformed_heads_are_errors() {
    for buf in [
        &b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 600 High\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
    ] {
        assert!(is_error(buf), "{:?}", String::from_utf8_lossy(buf));
    }
    assert_eq!(
        parse_as(b"HTTP/2.0 200 OK\r\n\r\n", false),
        Err(Error::UnsupportedVersion)
    );
}

#[test]
fn limits_apply_to_responses() {
    let limits = Limits {
        max_request_line: 10,
        max_head_bytes: 40,
        max_headers: 1,
    };
    let mut store = HeaderStore::new();
    assert_eq!(
        parse_response(b"HTTP/1.1 200 OK\r\n\r\n", &limits, &mut store, false),
        Err(Error::HeadTooLarge)
    );
    let limits = Limits {
        max_request_line: 100,
        ..limits
    };
    let mut store = HeaderStore::new();
    assert_eq!(
        parse_response(
            b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n",
            &limits,
            &mut store,
            false
        ),
        Err(Error::TooManyHeaders)
    );
    let mut store = HeaderStore::new();
    let big = format!("HTTP/1.1 200 OK\r\nA: {}\r\n\r\n", "x".repeat(20));
    assert_eq!(
        parse_response(big.as_bytes(), &limits, &mut store, false),
        Err(Error::HeadTooLarge)
    );
}

#[test]
fn interim_then_final_response_in_one_buffer() {
    let buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    let interim = complete(buf);
    assert_eq!(interim.status, 100);
    assert_eq!(interim.body, BodyKind::None);
    let rest = &buf[interim.head_len..];
    let head = complete(rest);
    assert_eq!(head.status, 201);
    assert_eq!(&rest[head.head_len..], b"ok");
}
