//! Upstream request heads: the request target, Host, framing and upgrade
//! fields, written and re-parsed with httparse.

#[path = "support/upstream_head.rs"]
mod upstream_head;

use upstream_head::*;

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
        request_id: None,
        via: shardgate_proxy::VIA_HTTP11,
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
