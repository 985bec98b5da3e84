//! Request-head parsing through the public API: framing, smuggling shapes,
//! limits, incremental input and pipelining.

use shardgate_http::{parse_request, BodyKind, Error, HeaderStore, Limits, Parsed, RequestHead};

fn parse_with(buf: &[u8], limits: Limits) -> Result<Parsed<RequestHead<'_>>, Error> {
    // Leaked so the head can outlive this helper; a few KiB per test call.
    let store = Box::leak(Box::new(HeaderStore::new()));
    parse_request(buf, &limits, store)
}

fn parse(buf: &[u8]) -> Result<Parsed<RequestHead<'_>>, Error> {
    parse_with(buf, Limits::default())
}

fn complete(buf: &[u8]) -> RequestHead<'_> {
    match parse(buf) {
        Ok(Parsed::Complete(head)) => head,
        other => panic!(
            "expected a complete head for {:?}, got {other:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

fn status(buf: &[u8]) -> u16 {
    match parse(buf) {
        Err(e) => e.status(),
        other => panic!(
            "expected an error for {:?}, got {other:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

#[test]
fn simple_get() {
    let buf = b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
    let head = complete(buf);
    assert_eq!(head.method, "GET");
    assert_eq!(head.target, "/index.html?x=1");
    assert_eq!(head.minor_version, 1);
    assert_eq!(head.head_len, buf.len());
    assert_eq!(head.body, BodyKind::None);
    assert_eq!(head.host, Some("example.com"));
    assert!(head.keep_alive);
    assert!(!head.expect_continue);
    assert_eq!(head.upgrade, None);
    let names: Vec<&str> = head.headers.iter().map(|h| h.name).collect();
    assert_eq!(names, ["Host", "Accept"]);
    assert_eq!(head.headers[1].value, b"*/*");
}

#[test]
fn header_values_are_trimmed() {
    let head = complete(b"GET / HTTP/1.1\r\nHost:  a.b \t\r\nX-Empty:\r\n\r\n");
    assert_eq!(head.host, Some("a.b"));
    assert_eq!(head.headers[1].name, "X-Empty");
    assert_eq!(head.headers[1].value, b"");
}

#[test]
fn every_prefix_is_partial_then_complete() {
    let buf = b"\r\nPOST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc";
    let head_end = buf.len() - 3;
    for n in 0..head_end {
        assert_eq!(parse(&buf[..n]), Ok(Parsed::Partial), "prefix of {n} bytes");
    }
    for n in head_end..=buf.len() {
        let Ok(Parsed::Complete(head)) = parse(&buf[..n]) else {
            panic!("prefix of {n} bytes should be complete");
        };
        assert_eq!(head.head_len, head_end);
        assert_eq!(head.body, BodyKind::Length(3));
        assert!(head.expect_continue);
    }
}

#[test]
fn pipelined_requests_split_exactly() {
    let buf = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
                POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
                DELETE /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let first = complete(buf);
    assert_eq!(first.target, "/a");
    let rest = &buf[first.head_len..];
    assert!(rest.starts_with(b"POST /b"));
    let second = complete(rest);
    assert_eq!(second.target, "/b");
    let BodyKind::Length(n) = second.body else {
        panic!("expected a length body");
    };
    let body_start = second.head_len;
    let body_end = body_start + n as usize;
    assert_eq!(&rest[body_start..body_end], b"hello");
    let third = complete(&rest[body_end..]);
    assert_eq!(third.method, "DELETE");
    assert!(!third.keep_alive);
    assert_eq!(third.head_len, rest.len() - body_end);
}

#[test]
fn leading_empty_lines_are_ignored_and_counted() {
    let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let head = complete(buf);
    assert_eq!(head.method, "GET");
    assert_eq!(head.head_len, buf.len());
    // but never a bare LF
    assert_eq!(status(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn content_length_and_transfer_encoding_together_are_rejected() {
    for buf in [
        &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 0\r\n\r\n",
    ] {
        assert_eq!(status(buf), 400);
    }
}

#[test]
fn content_length_must_be_one_clean_number() {
    let ok = complete(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(ok.body, BodyKind::Length(0));
    let big =
        complete(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n");
    assert_eq!(big.body, BodyKind::Length(u64::MAX));
    for value in [
        "5, 5",
        "5,5",
        "+5",
        "-1",
        "5 5",
        "0x5",
        "",
        "18446744073709551616",
        "99999999999999999999999",
        "5\u{b}",
    ] {
        let buf = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {value}\r\n\r\n");
        assert_eq!(status(buf.as_bytes()), 400, "Content-Length: {value:?}");
    }
    let dup = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello";
    assert_eq!(status(dup), 400);
}

#[test]
fn transfer_encoding_rules() {
    let head = complete(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(head.body, BodyKind::Chunked);
    let cases: [(&str, u16); 8] = [
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            501,
        ),
        ("Transfer-Encoding: chunked, gzip\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            400,
        ),
        ("Transfer-Encoding: xchunked\r\n", 400),
        ("Transfer-Encoding: chunked;q=1\r\n", 400),
        ("Transfer-Encoding:\r\n", 400),
    ];
    for (fields, want) in cases {
        let buf = format!("POST / HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        assert_eq!(status(buf.as_bytes()), want, "{fields:?}");
    }
}

#[test]
fn transfer_encoding_in_http10_is_rejected() {
    assert_eq!(
        status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
    assert_eq!(
        status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
        400
    );
}

#[test]
fn line_ending_and_folding_attacks_are_rejected() {
    for buf in [
        &b"GET / HTTP/1.1\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
    ] {
        assert_eq!(status(buf), 400, "{:?}", String::from_utf8_lossy(buf));
    }
}

#[test]
fn malformed_field_lines_are_rejected() {
    for fields in [
        "Host : h\r\n",
        "Host\t: h\r\n",
        "Host: h\r\nX-A: a\0b\r\n",
        "Host: h\r\nX-A: a\u{1}b\r\n",
        "Host: h\r\nX-A: a\u{7f}b\r\n",
        "Host: h\r\nNoColon\r\n",
        "Host: h\r\n: empty-name\r\n",
        "Host: h\r\nBad[Name]: x\r\n",
    ] {
        let buf = format!("GET / HTTP/1.1\r\n{fields}\r\n");
        assert_eq!(status(buf.as_bytes()), 400, "{fields:?}");
    }
}

#[test]
fn malformed_request_lines_are_rejected() {
    for line in [
        "GET  / HTTP/1.1",
        "GET / HTTP/1.1 ",
        "GET /",
        "GET / http/1.1",
        "GET / HTTP/1.",
        " GET / HTTP/1.1",
        "G(T / HTTP/1.1",
        "GET /a b HTTP/1.1",
        "GET /a#frag HTTP/1.1",
        "GET /caf\u{e9} HTTP/1.1",
        "GET example.com HTTP/1.1",
        "GET * HTTP/1.1",
        "CONNECT / HTTP/1.1",
        "GET http://user@example.com/ HTTP/1.1",
    ] {
        let buf = format!("{line}\r\nHost: h\r\n\r\n");
        assert_eq!(status(buf.as_bytes()), 400, "{line:?}");
    }
}

#[test]
fn unsupported_versions_are_505() {
    assert_eq!(status(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), 505);
    assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/11\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn newer_http1_minor_versions_point_at_their_digit() {
    for (buf, at) in [
        (&b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"[..], 13),
        (b"\r\nPOST /x HTTP/1.9\r\nHost: h\r\n\r\n", 17),
    ] {
        assert!(
            matches!(parse(buf), Err(Error::NewerMinorVersion { at: a }) if a == at),
            "{:?}",
            parse(buf)
        );
        // Treated as HTTP/1.1 once the digit says so (RFC 9110 §2.5).
        let mut patched = buf.to_vec();
        patched[at] = b'1';
        assert_eq!(complete(&patched).minor_version, 1);
    }
    assert_eq!(
        parse(b"GET / HTTP/2.1\r\nHost: h\r\n\r\n").err(),
        Some(Error::UnsupportedVersion)
    );
}

#[test]
fn host_rules() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
    for bad in ["a b", "a,b", "a/b", "user@a", "a:b", "[::1", "a\u{e9}"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(status(buf.as_bytes()), 400, "Host: {bad:?}");
    }
    assert_eq!(
        complete(b"GET / HTTP/1.1\r\nHost: a:8080\r\n\r\n").host,
        Some("a:8080")
    );
    assert_eq!(
        complete(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").host,
        Some("[::1]:80")
    );
    // RFC 9110 §7.2: empty Host is allowed when the URI has no authority
    assert_eq!(complete(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").host, Some(""));
    // HTTP/1.0 may omit it
    assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").host, None);
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
}

#[test]
fn absolute_form_authority_wins_over_host() {
    let head = complete(b"GET http://origin.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(head.host, Some("origin.example:8080"));
    assert_eq!(head.target, "http://origin.example:8080/p?q");
    assert_eq!(shardgate_http::origin_form(head.target), "/p?q");
    // still needs a Host field in HTTP/1.1 (RFC 9112 §3.2)
    assert_eq!(status(b"GET http://a/ HTTP/1.1\r\n\r\n"), 400);
    let v10 = complete(b"GET http://a/ HTTP/1.0\r\n\r\n");
    assert_eq!(v10.host, Some("a"));
}

#[test]
fn connect_and_options_forms() {
    let head = complete(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(head.host, Some("example.com:443"));
    assert_eq!(head.body, BodyKind::None);
    assert_eq!(
        status(b"CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        400
    );
    let head = complete(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(head.target, "*");
    assert_eq!(head.host, Some("h"));
}

#[test]
fn keep_alive_matrix() {
    let cases: [(&[u8], bool); 7] = [
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n",
            true,
        ),
    ];
    for (buf, want) in cases {
        assert_eq!(
            complete(buf).keep_alive,
            want,
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: a b\r\n\r\n"),
        400
    );
}

#[test]
fn expect_rules() {
    assert!(
        complete(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    // RFC 9110 §10.1.1: ignored in HTTP/1.0
    assert!(
        !complete(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    assert_eq!(
        status(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n"),
        417
    );
    assert_eq!(
        status(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\n\r\n"),
        417
    );
    assert_eq!(status(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n"), 417);
}

#[test]
fn upgrade_needs_the_connection_token() {
    let ws = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(complete(ws).upgrade, Some("websocket"));
    let no_token = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(complete(no_token).upgrade, None);
    let v10 = b"GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(complete(v10).upgrade, None);
    let dup =
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n";
    assert_eq!(status(dup), 400);
}

#[test]
fn an_h2c_upgrade_is_ignored() {
    for offer in ["h2c", "H2C", "websocket, h2c", " h2c/1 ,foo"] {
        let req = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: {offer}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        );
        assert_eq!(complete(req.as_bytes()).upgrade, None, "{offer}");
    }
    let near = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2cx\r\n\r\n";
    assert_eq!(complete(near).upgrade, Some("h2cx"));
}

#[test]
fn request_line_limit_is_414() {
    let limits = Limits {
        max_request_line: 20,
        ..Limits::default()
    };
    let ok = b"GET /012345 HTTP/1.1\r\nHost: h\r\n\r\n"; // 20-byte line
    assert!(matches!(parse_with(ok, limits), Ok(Parsed::Complete(_))));
    let long = b"GET /0123456 HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(parse_with(long, limits), Err(Error::RequestLineTooLong));
    // detected before the line ends
    assert_eq!(
        parse_with(&long[..21], limits),
        Err(Error::RequestLineTooLong)
    );
    assert_eq!(parse_with(&long[..20], limits), Ok(Parsed::Partial));
}

#[test]
fn head_size_limit_is_431() {
    let limits = Limits {
        max_head_bytes: 64,
        ..Limits::default()
    };
    let filler = "x".repeat(40);
    let ok = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", &filler[..32]);
    assert_eq!(ok.len(), 64);
    assert!(matches!(
        parse_with(ok.as_bytes(), limits),
        Ok(Parsed::Complete(_))
    ));
    let big = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", &filler[..33]);
    assert_eq!(
        parse_with(big.as_bytes(), limits)
            .map(|_| ())
            .unwrap_err()
            .status(),
        431
    );
    // still partial but already at the limit
    assert_eq!(
        parse_with(&big.as_bytes()[..64], limits),
        Err(Error::HeadTooLarge)
    );
    assert_eq!(
        parse_with(&big.as_bytes()[..63], limits),
        Ok(Parsed::Partial)
    );
}

#[test]
fn header_count_limit_is_431() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    let three = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    let Ok(Parsed::Complete(head)) = parse_with(three, limits) else {
        panic!("three headers fit");
    };
    assert_eq!(head.headers.len(), 3);
    let four = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(parse_with(four, limits), Err(Error::TooManyHeaders));
    // max_headers above MAX_HEADERS is capped, not trusted
    let huge = Limits {
        max_headers: usize::MAX,
        ..Limits::default()
    };
    let mut many = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
    for i in 0..shardgate_http::MAX_HEADERS {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        parse_with(many.as_bytes(), huge),
        Err(Error::TooManyHeaders)
    );
}

#[test]
fn body_bytes_after_the_head_are_not_parsed() {
    let buf = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n\n\r\0\x7f";
    let head = complete(buf);
    assert_eq!(head.head_len, buf.len() - 4);
}

#[test]
fn reused_read_buffer_across_split_reads() {
    let input = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    let limits = Limits::default();
    for read_size in 1..=input.len() {
        let mut buf: Vec<u8> = Vec::new();
        let mut seen = Vec::new();
        let mut body_left = 0usize;
        for chunk in input.chunks(read_size) {
            buf.extend_from_slice(chunk);
            loop {
                if body_left > 0 {
                    let n = body_left.min(buf.len());
                    buf.drain(..n);
                    body_left -= n;
                    if body_left > 0 {
                        break;
                    }
                }
                let mut store = HeaderStore::new();
                let used = match parse_request(&buf, &limits, &mut store) {
                    Ok(Parsed::Complete(head)) => {
                        seen.push(head.target.to_string());
                        if let BodyKind::Length(n) = head.body {
                            body_left = n as usize;
                        }
                        head.head_len
                    }
                    Ok(Parsed::Partial) => break,
                    Err(e) => panic!("read size {read_size}: {e}"),
                };
                buf.drain(..used);
            }
        }
        assert_eq!(seen, ["/a", "/b", "/c"], "read size {read_size}");
        assert!(buf.is_empty());
    }
}
