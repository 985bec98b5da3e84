//! Upstream request heads: written, re-parsed with httparse, compared field by field.

use std::net::IpAddr;

use httparse::Header;
use shardgate_config::{ForwardedHeaders, HeaderRewrite, RouteAction, RouteConfig};
use shardgate_proxy::{write_upstream_request, ForwardCtx, Framing};

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
    }
}

fn no_forwarding() -> ForwardedHeaders {
    ForwardedHeaders {
        x_forwarded_for: false,
        x_forwarded_proto: false,
        forwarded: false,
        via: false,
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Parses `head` as "name: value" lines into httparse headers.
fn headers(raw: &[(&'static str, &'static str)]) -> Vec<Header<'static>> {
    raw.iter()
        .map(|&(name, value)| Header {
            name,
            value: value.as_bytes(),
        })
        .collect()
}

struct Parsed {
    method: String,
    path: String,
    version: u8,
    fields: Vec<(String, String)>,
}

/// Re-parses what was written; the head must be complete and end the buffer.
fn parse(out: &[u8]) -> Parsed {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut hs);
    let status = req.parse(out).expect("valid HTTP/1.1 request head");
    assert_eq!(
        status,
        httparse::Status::Complete(out.len()),
        "{}",
        String::from_utf8_lossy(out)
    );
    Parsed {
        method: req.method.unwrap().to_string(),
        path: req.path.unwrap().to_string(),
        version: req.version.unwrap(),
        fields: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect(),
    }
}

struct Req<'a> {
    method: &'a str,
    target: &'a str,
    headers: &'a [(&'static str, &'static str)],
    ip: &'a str,
    host: Option<&'a str>,
    framing: Framing,
    upgrade: Option<&'a str>,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Req {
            method: "GET",
            target: "/",
            headers: &[],
            ip: "10.0.0.9",
            host: None,
            framing: Framing::None,
            upgrade: None,
        }
    }
}

fn write(req: Req<'_>, route: &RouteConfig) -> Parsed {
    let hs = headers(req.headers);
    let ip: IpAddr = req.ip.parse().unwrap();
    let ctx = ForwardCtx {
        client_ip: ip,
        scheme: "http",
        host: req.host,
        route,
    };
    let mut out = b"leftover".to_vec();
    out.clear();
    write_upstream_request(
        &mut out,
        req.method,
        req.target,
        &hs,
        &ctx,
        req.framing,
        req.upgrade,
    );
    parse(&out)
}

#[test]
fn hop_by_hop_and_framing_fields_are_dropped() {
    let p = write(
        Req {
            method: "POST",
            target: "/a/b?c=d",
            headers: &[
                ("Host", "example.com"),
                ("User-Agent", "t/1"),
                ("Connection", "keep-alive"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"),
                ("TE", "trailers"),
                ("Trailer", "X-Sum"),
                ("Transfer-Encoding", "chunked"),
                ("Upgrade", "h2c"),
                ("Content-Length", "10"),
                ("Expect", "100-continue"),
                ("Accept", "*/*"),
            ],
            framing: Framing::Length(42),
            ..Req::default()
        },
        &route(),
    );
    assert_eq!(p.method, "POST");
    assert_eq!(p.path, "/a/b?c=d");
    assert_eq!(p.version, 1);
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "example.com"),
            ("User-Agent", "t/1"),
            ("Accept", "*/*"),
            ("content-length", "42"),
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-proto", "http"),
        ])
    );
}

#[test]
fn connection_nominated_fields_are_dropped() {
    let mut r = route();
    r.forwarded = no_forwarding();
    let p = write(
        Req {
            headers: &[
                ("Host", "h"),
                ("Connection", "close, X-Secret"),
                ("X-Secret", "s"),
                ("connection", "X-OTHER"),
                ("x-other", "o"),
                ("X-Secretive", "kept"),
            ],
            ..Req::default()
        },
        &r,
    );
    assert_eq!(p.fields, pairs(&[("host", "h"), ("X-Secretive", "kept")]));
}

#[test]
fn nominating_host_or_forwarding_fields_cannot_drop_ours() {
    let p = write(
        Req {
            headers: &[
                ("Host", "h"),
                ("Connection", "host, x-forwarded-for, x-forwarded-proto"),
                ("X-Forwarded-For", "6.6.6.6"),
            ],
            ..Req::default()
        },
        &route(),
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "h"),
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-proto", "http"),
        ])
    );
}

#[test]
fn x_forwarded_for_joins_existing_fields() {
    let p = write(
        Req {
            headers: &[
                ("Host", "h"),
                ("X-Forwarded-For", "1.1.1.1"),
                ("Accept", "a"),
                ("x-forwarded-for", " 2.2.2.2, 3.3.3.3 "),
                ("X-Forwarded-For", ""),
                ("X-Forwarded-Proto", "https"),
            ],
            ..Req::default()
        },
        &route(),
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "h"),
            ("Accept", "a"),
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9"),
            ("x-forwarded-proto", "http"),
        ])
    );
}

#[test]
fn disabled_forwarding_fields_pass_through_untouched() {
    let mut r = route();
    r.forwarded = no_forwarding();
    let p = write(
        Req {
            headers: &[
                ("Host", "h"),
                ("X-Forwarded-For", "1.1.1.1"),
                ("X-Forwarded-For", "2.2.2.2"),
                ("X-Forwarded-Proto", "https"),
                ("Forwarded", "for=1.1.1.1"),
                ("Via", "1.0 fred"),
            ],
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "h"),
            ("X-Forwarded-For", "1.1.1.1"),
            ("X-Forwarded-For", "2.2.2.2"),
            ("X-Forwarded-Proto", "https"),
            ("Forwarded", "for=1.1.1.1"),
            ("Via", "1.0 fred"),
        ])
    );
}

#[test]
fn forwarded_and_via_for_ipv4_and_ipv6() {
    let mut r = route();
    r.forwarded = ForwardedHeaders {
        x_forwarded_for: true,
        x_forwarded_proto: true,
        forwarded: true,
        via: true,
    };
    let p = write(
        Req {
            headers: &[
                ("Host", "example.com:8080"),
                ("Forwarded", "for=192.0.2.43"),
                ("Via", "1.0 fred, 1.1 p.example.net"),
            ],
            ip: "203.0.113.7",
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "example.com:8080"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "http"),
            (
                "forwarded",
                r#"for=192.0.2.43, for=203.0.113.7;proto=http;host="example.com:8080""#
            ),
            ("via", "1.0 fred, 1.1 p.example.net, 1.1 shardgate"),
        ])
    );

    let p = write(
        Req {
            headers: &[("Host", "[::1]:8080")],
            ip: "2001:db8::7",
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "[::1]:8080"),
            ("x-forwarded-for", "2001:db8::7"),
            ("x-forwarded-proto", "http"),
            (
                "forwarded",
                r#"for="[2001:db8::7]";proto=http;host="[::1]:8080""#
            ),
            ("via", "1.1 shardgate"),
        ])
    );

    // An IPv4-mapped peer (dual-stack socket) is reported as IPv4.
    let p = write(
        Req {
            headers: &[("Host", "h")],
            ip: "::ffff:198.51.100.1",
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields[1],
        ("x-forwarded-for".into(), "198.51.100.1".into())
    );
    assert_eq!(
        p.fields[3],
        (
            "forwarded".into(),
            r#"for=198.51.100.1;proto=http;host="h""#.into()
        )
    );
}

#[test]
fn route_edits_apply_remove_then_set_then_add() {
    let mut r = route();
    r.forwarded = no_forwarding();
    r.request_headers = HeaderRewrite {
        remove: vec!["x-remove".into(), "x-both".into()],
        set: pairs(&[("X-Set", "new"), ("x-both", "set")]),
        add: pairs(&[("X-Add", "added"), ("x-both", "added")]),
    };
    let p = write(
        Req {
            headers: &[
                ("Host", "h"),
                ("X-Remove", "1"),
                ("X-Set", "old1"),
                ("Accept", "a"),
                ("x-set", "old2"),
                ("X-Add", "client"),
                ("X-Both", "client"),
            ],
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "h"),
            ("Accept", "a"),
            ("X-Add", "client"),
            ("X-Set", "new"),
            ("x-both", "set"),
            ("X-Add", "added"),
            ("x-both", "added"),
        ])
    );
}

#[test]
fn route_edits_cannot_break_framing_or_host() {
    let mut r = route();
    r.forwarded = no_forwarding();
    r.request_headers = HeaderRewrite {
        remove: vec!["host".into()],
        set: pairs(&[
            ("Host", "backend.internal"),
            ("Content-Length", "0"),
            ("Transfer-Encoding", "identity"),
            ("X-Split", "a\r\nInjected: 1"),
        ]),
        add: pairs(&[
            ("Host", "second"),
            ("Connection", "close"),
            ("Bad Name", "v"),
        ]),
    };
    let p = write(
        Req {
            headers: &[("Host", "client.example")],
            framing: Framing::Chunked,
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "backend.internal"),
            ("transfer-encoding", "chunked"),
        ])
    );
}

#[test]
fn route_can_distrust_client_x_forwarded_for() {
    let mut r = route();
    r.request_headers.remove = vec!["x-forwarded-for".into()];
    let p = write(
        Req {
            headers: &[("Host", "h"), ("X-Forwarded-For", "6.6.6.6")],
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "h"),
            ("x-forwarded-for", "10.0.0.9"),
            ("x-forwarded-proto", "http"),
        ])
    );
}

#[test]
fn absolute_form_becomes_origin_form_with_authority_as_host() {
    let mut r = route();
    r.forwarded = no_forwarding();
    let cases = [
        ("http://example.com/p?q=1", "/p?q=1", "example.com"),
        ("http://Example.com:8080", "/", "Example.com:8080"),
        ("http://example.com?q", "/?q", "example.com"),
        ("HTTP://user@example.com/x", "/x", "example.com"),
    ];
    for (target, path, host) in cases {
        let p = write(
            Req {
                target,
                headers: &[("Host", "ignored.example"), ("Accept", "a")],
                ..Req::default()
            },
            &r,
        );
        assert_eq!(p.path, path, "{target}");
        assert_eq!(
            p.fields,
            pairs(&[("host", host), ("Accept", "a")]),
            "{target}"
        );
    }
}

#[test]
fn host_falls_back_to_ctx_then_empty() {
    let mut r = route();
    r.forwarded = no_forwarding();
    let p = write(
        Req {
            host: Some("fallback.example"),
            ..Req::default()
        },
        &r,
    );
    assert_eq!(p.fields, pairs(&[("host", "fallback.example")]));
    // The head's Host wins over the fallback.
    let p = write(
        Req {
            headers: &[("host", "head.example")],
            host: Some("fallback.example"),
            ..Req::default()
        },
        &r,
    );
    assert_eq!(p.fields, pairs(&[("host", "head.example")]));
    let p = write(Req::default(), &r);
    assert_eq!(p.fields, pairs(&[("host", "")]));
}

#[test]
fn framing_is_always_ours() {
    let mut r = route();
    r.forwarded = no_forwarding();
    let client = [
        ("Host", "h"),
        ("Content-Length", "5"),
        ("Transfer-Encoding", "chunked"),
    ];
    let cases = [
        (Framing::None, None),
        (Framing::Length(0), Some(("content-length", "0"))),
        (
            Framing::Length(u64::MAX),
            Some(("content-length", "18446744073709551615")),
        ),
        (Framing::Chunked, Some(("transfer-encoding", "chunked"))),
    ];
    for (framing, expected) in cases {
        let p = write(
            Req {
                headers: &client,
                framing,
                ..Req::default()
            },
            &r,
        );
        let mut want = vec![("host", "h")];
        want.extend(expected);
        assert_eq!(p.fields, pairs(&want), "{framing:?}");
    }
}

#[test]
fn upgrade_is_rewritten_by_us() {
    let mut r = route();
    r.forwarded = no_forwarding();
    let p = write(
        Req {
            headers: &[
                ("Host", "h"),
                ("Connection", "Upgrade"),
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ],
            upgrade: Some("websocket"),
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "h"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
        ])
    );
    // An unwritable protocol is dropped rather than splitting the head.
    let p = write(
        Req {
            headers: &[("Host", "h")],
            upgrade: Some("ws\r\nX: y"),
            ..Req::default()
        },
        &r,
    );
    assert_eq!(p.fields, pairs(&[("host", "h")]));
}

#[test]
fn names_kept_values_trimmed_and_buffer_appended() {
    let mut r = route();
    r.forwarded = no_forwarding();
    let hs = headers(&[("Host", " h "), ("X-MiXeD-Case", " \t v a l \t")]);
    let route = r;
    let ctx = ForwardCtx {
        client_ip: "127.0.0.1".parse().unwrap(),
        scheme: "http",
        host: None,
        route: &route,
    };
    let mut out = Vec::with_capacity(1024);
    let cap = out.capacity();
    write_upstream_request(&mut out, "DELETE", "/x", &hs, &ctx, Framing::None, None);
    let first_len = out.len();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "DELETE /x HTTP/1.1\r\nhost: h\r\nX-MiXeD-Case: v a l\r\n\r\n"
    );
    // Appends: a second head lands after the first (pipelining into one buffer).
    write_upstream_request(&mut out, "GET", "/y", &hs, &ctx, Framing::None, None);
    assert_eq!(out.len(), first_len * 2 - 3);
    assert_eq!(out.capacity(), cap, "no reallocation of a warm buffer");
}

#[test]
fn x_forwarded_proto_replaces_route_value_and_forwarded_host_is_the_clients() {
    let mut r = route();
    r.forwarded.forwarded = true;
    r.request_headers.set = pairs(&[("X-Forwarded-Proto", "https"), ("Host", "backend")]);
    let p = write(
        Req {
            headers: &[("Host", "public.example"), ("X-Forwarded-Proto", "ftp")],
            ip: "192.0.2.1",
            ..Req::default()
        },
        &r,
    );
    assert_eq!(
        p.fields,
        pairs(&[
            ("host", "backend"),
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-proto", "http"),
            (
                "forwarded",
                r#"for=192.0.2.1;proto=http;host="public.example""#
            ),
        ])
    );
}
