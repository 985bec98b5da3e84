//! Response heads (forwarded, static, error): written, re-parsed with httparse,
//! compared field by field.

use httparse::Header;
use shardgate_config::{
    ForwardedHeaders, HeaderRewrite, RetryConfig, RouteAction, RouteConfig, StaticResponse,
    TimeoutOverrides,
};
use shardgate_proxy::{
    write_downstream_response, write_error_response, write_error_response_for,
    write_static_response, Framing,
};

const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

fn route() -> RouteConfig {
    RouteConfig {
        name: "r".into(),
        listeners: vec![],
        hosts: vec![],
        path_prefix: "/".into(),
        action: RouteAction::Proxy {
            upstream: "up".into(),
        },
        request_headers: HeaderRewrite::default(),
        response_headers: HeaderRewrite::default(),
        forwarded: ForwardedHeaders::default(),
        access_log: RouteConfig::DEFAULT_ACCESS_LOG,
        retry: RetryConfig::default(),
        timeouts: TimeoutOverrides::default(),
        rate_limits: Vec::new(),
        max_in_flight: 0,
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

struct Parsed {
    code: u16,
    reason: String,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse(out: &[u8]) -> Parsed {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut hs);
    let status = resp.parse(out).expect("valid HTTP/1.1 response head");
    let httparse::Status::Complete(len) = status else {
        panic!("incomplete head: {}", String::from_utf8_lossy(out));
    };
    assert_eq!(resp.version, Some(1));
    Parsed {
        code: resp.code.unwrap(),
        reason: resp.reason.unwrap().to_string(),
        fields: resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect(),
        body: out[len..].to_vec(),
    }
}

#[allow(clippy::too_many_arguments)]
fn downstream(
    status: u16,
    reason: &str,
    raw: &[(&'static str, &'static str)],
    route: &RouteConfig,
    framing: Framing,
    keep_alive: bool,
    upgrade: Option<&str>,
) -> Parsed {
    let hs: Vec<Header> = raw
        .iter()
        .map(|&(name, value)| Header {
            name,
            value: value.as_bytes(),
        })
        .collect();
    let mut out = Vec::new();
    write_downstream_response(
        &mut out,
        status,
        reason,
        &hs,
        route,
        framing,
        keep_alive,
        upgrade,
        &|o: &mut Vec<u8>| o.extend_from_slice(DATE),
    );
    let p = parse(&out);
    assert!(p.body.is_empty(), "head only");
    p
}

#[test]
fn upstream_hop_by_hop_and_framing_replaced() {
    let upstream = [
        ("Content-Type", "text/html"),
        ("Content-Length", "999"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Trailer", "X-Sum"),
        ("Upgrade", "h2c"),
        ("Proxy-Connection", "keep-alive"),
        ("Server", "origin"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
    ];
    let p = downstream(
        200,
        "OK",
        &upstream,
        &route(),
        Framing::Length(5),
        true,
        None,
    );
    assert_eq!((p.code, p.reason.as_str()), (200, "OK"));
    assert_eq!(
        p.fields,
        pairs(&[
            ("Content-Type", "text/html"),
            ("Server", "origin"),
            ("Set-Cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("content-length", "5"),
        ])
    );

    let p = downstream(
        200,
        "OK",
        &upstream,
        &route(),
        Framing::Chunked,
        false,
        None,
    );
    assert_eq!(
        p.fields[5..],
        pairs(&[("transfer-encoding", "chunked"), ("connection", "close")])
    );

    // Close-delimited body: no framing field, and the connection must close.
    let p = downstream(200, "OK", &upstream, &route(), Framing::None, false, None);
    assert_eq!(p.fields[5..], pairs(&[("connection", "close")]));
}

#[test]
fn no_framing_on_1xx_and_204() {
    let p = downstream(
        204,
        "No Content",
        &[("Content-Length", "0")],
        &route(),
        Framing::Length(0),
        true,
        None,
    );
    // A final response without Date gets the gateway's (RFC 9110 §6.6.1).
    assert_eq!(
        p.fields,
        pairs(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT")])
    );
    let p = downstream(
        103,
        "Early Hints",
        &[("Link", "</s.css>")],
        &route(),
        Framing::Chunked,
        true,
        None,
    );
    assert_eq!(p.fields, pairs(&[("Link", "</s.css>")]));
    // 304 may carry the length of the representation it stands for.
    let p = downstream(
        304,
        "Not Modified",
        &[],
        &route(),
        Framing::Length(7),
        true,
        None,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("content-length", "7")
        ])
    );
}

#[test]
fn switching_protocols_keeps_upgrade() {
    let upstream = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ];
    let p = downstream(
        101,
        "Switching Protocols",
        &upstream,
        &route(),
        Framing::None,
        false,
        Some("websocket"),
    );
    assert_eq!(p.code, 101);
    assert_eq!(
        p.fields,
        pairs(&[
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
        ])
    );
    // `upgrade` on a non-101 answer (the origin declined) is not echoed.
    let p = downstream(
        200,
        "OK",
        &upstream,
        &route(),
        Framing::Length(0),
        true,
        Some("websocket"),
    );
    assert_eq!(
        p.fields[1..],
        pairs(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("content-length", "0")
        ])
    );
}

#[test]
fn the_origins_date_is_kept_and_a_removal_is_honoured() {
    let upstream = [("Date", "Mon, 01 Jan 2024 00:00:00 GMT")];
    let p = downstream(
        200,
        "OK",
        &upstream,
        &route(),
        Framing::Length(0),
        true,
        None,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
            ("content-length", "0")
        ])
    );
    let mut r = route();
    r.response_headers.remove = vec!["Date".into()];
    let p = downstream(200, "OK", &upstream, &r, Framing::Length(0), true, None);
    assert_eq!(p.fields, pairs(&[("content-length", "0")]));
    // Interim responses get none.
    let p = downstream(103, "Early Hints", &[], &route(), Framing::None, true, None);
    assert_eq!(p.fields, pairs(&[]));
}

#[test]
fn route_edits_and_via() {
    let mut r = route();
    r.forwarded.via = true;
    r.response_headers = HeaderRewrite {
        remove: vec!["server".into(), "x-powered-by".into()],
        set: pairs(&[("Cache-Control", "no-store"), ("Content-Length", "1")]),
        add: pairs(&[("X-Frame-Options", "DENY"), ("Connection", "close")]),
    };
    let upstream = [
        ("Server", "origin"),
        ("X-Powered-By", "php"),
        ("cache-control", "max-age=60"),
        ("Via", "1.1 origin-cache"),
        ("ETag", "\"x\""),
    ];
    let p = downstream(200, "OK", &upstream, &r, Framing::Length(3), true, None);
    assert_eq!(
        p.fields,
        pairs(&[
            ("ETag", "\"x\""),
            ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("via", "1.1 origin-cache, 1.1 shardgate"),
            ("content-length", "3"),
        ])
    );
}

#[test]
fn status_line_reason_and_bad_status() {
    let p = downstream(404, "", &[], &route(), Framing::Length(0), true, None);
    assert_eq!((p.code, p.reason.as_str()), (404, "Not Found"));
    let p = downstream(
        200,
        "Fine Thanks",
        &[],
        &route(),
        Framing::Length(0),
        true,
        None,
    );
    assert_eq!(p.reason, "Fine Thanks");
    let p = downstream(599, "", &[], &route(), Framing::Length(0), true, None);
    assert_eq!((p.code, p.reason.as_str()), (599, ""));
    let p = downstream(0, "Zero", &[], &route(), Framing::Length(0), true, None);
    assert_eq!((p.code, p.reason.as_str()), (502, "Bad Gateway"));
}

fn static_resp(status: u16, headers: &[(&str, &str)], body: &str) -> StaticResponse {
    StaticResponse {
        status,
        headers: pairs(headers),
        body: body.into(),
    }
}

fn write_static(
    resp: &StaticResponse,
    edits: &HeaderRewrite,
    keep_alive: bool,
    head_only: bool,
    date: &[u8],
) -> Parsed {
    let mut out = Vec::new();
    write_static_response(&mut out, resp, edits, keep_alive, head_only, date);
    parse(&out)
}

#[test]
fn static_response_with_body() {
    let resp = static_resp(200, &[("Content-Type", "text/plain")], "hello");
    let p = write_static(&resp, &HeaderRewrite::default(), true, false, DATE);
    assert_eq!((p.code, p.reason.as_str()), (200, "OK"));
    assert_eq!(
        p.fields,
        pairs(&[
            ("server", "shardgate"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("Content-Type", "text/plain"),
            ("content-length", "5"),
        ])
    );
    assert_eq!(p.body, b"hello");

    let p = write_static(&resp, &HeaderRewrite::default(), false, true, DATE);
    assert_eq!(
        p.fields[3..],
        pairs(&[("content-length", "5"), ("connection", "close")])
    );
    assert!(p.body.is_empty(), "HEAD gets the head only");
}

#[test]
fn static_response_edits_and_overrides() {
    let resp = static_resp(
        301,
        &[
            ("Location", "https://example.com/"),
            ("Content-Length", "999"),
            ("Transfer-Encoding", "chunked"),
            ("Date", "configured"),
            ("Connection", "keep-alive"),
        ],
        "",
    );
    let edits = HeaderRewrite {
        remove: vec!["server".into()],
        set: pairs(&[("Cache-Control", "max-age=3600")]),
        add: pairs(&[("X-A", "1")]),
    };
    let p = write_static(&resp, &edits, true, false, DATE);
    assert_eq!((p.code, p.reason.as_str()), (301, "Moved Permanently"));
    assert_eq!(
        p.fields,
        pairs(&[
            ("Location", "https://example.com/"),
            ("Date", "configured"),
            ("Cache-Control", "max-age=3600"),
            ("X-A", "1"),
            ("content-length", "0"),
        ])
    );
    assert!(p.body.is_empty());

    let set_server = HeaderRewrite {
        set: pairs(&[("Server", "edge")]),
        ..HeaderRewrite::default()
    };
    let p = write_static(&static_resp(200, &[], "x"), &set_server, true, false, b"");
    assert_eq!(
        p.fields,
        pairs(&[("Server", "edge"), ("content-length", "1")])
    );
}

#[test]
fn static_responses_without_body_status() {
    for status in [204, 304] {
        let p = write_static(
            &static_resp(status, &[], "ignored"),
            &HeaderRewrite::default(),
            true,
            false,
            DATE,
        );
        assert_eq!(p.code, status);
        assert_eq!(
            p.fields,
            pairs(&[
                ("server", "shardgate"),
                ("date", std::str::from_utf8(DATE).unwrap())
            ])
        );
        assert!(p.body.is_empty(), "{status}");
    }
}

#[test]
fn error_responses() {
    let mut out = Vec::new();
    write_error_response(&mut out, 502, true, DATE);
    let p = parse(&out);
    assert_eq!((p.code, p.reason.as_str()), (502, "Bad Gateway"));
    assert_eq!(
        p.fields,
        pairs(&[
            ("server", "shardgate"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", "16"),
        ])
    );
    assert_eq!(p.body, b"502 Bad Gateway\n");

    for (status, body) in [
        (400, &b"400 Bad Request\n"[..]),
        (404, b"404 Not Found\n"),
        (408, b"408 Request Timeout\n"),
        (413, b"413 Content Too Large\n"),
        (431, b"431 Request Header Fields Too Large\n"),
        (503, b"503 Service Unavailable\n"),
        (504, b"504 Gateway Timeout\n"),
        (599, b"599\n"),
    ] {
        out.clear();
        write_error_response(&mut out, status, false, b"");
        let p = parse(&out);
        assert_eq!(p.code, status);
        assert_eq!(p.body, body, "{status}");
        assert_eq!(
            p.fields,
            pairs(&[
                ("server", "shardgate"),
                ("content-type", "text/plain; charset=utf-8"),
                ("content-length", &body.len().to_string()),
                ("connection", "close"),
            ])
        );
    }

    out.clear();
    write_error_response_for(&mut out, 504, true, true, DATE);
    let p = parse(&out);
    assert_eq!(p.fields[3], ("content-length".into(), "20".into()));
    assert!(p.body.is_empty());

    out.clear();
    write_error_response(&mut out, 7, true, b"");
    let p = parse(&out);
    assert_eq!(
        (p.code, p.body.as_slice()),
        (500, &b"500 Internal Server Error\n"[..])
    );
}

/// The writers only append: once the connection's reused buffer has grown to a
/// head's size, writing further heads into it allocates nothing.
#[test]
fn reused_buffer_does_not_grow_after_warm_up() {
    let route = route();
    let hs = [Header {
        name: "Content-Type",
        value: b"text/plain",
    }];
    let mut out = Vec::with_capacity(256);
    let before = out.capacity();
    for n in 0..1000u64 {
        out.clear();
        write_downstream_response(
            &mut out,
            200,
            "",
            &hs,
            &route,
            Framing::Length(n * 7919),
            true,
            None,
            &|o: &mut Vec<u8>| o.extend_from_slice(DATE),
        );
        out.clear();
        write_error_response(&mut out, 502, false, DATE);
    }
    assert_eq!(out.capacity(), before);
}
