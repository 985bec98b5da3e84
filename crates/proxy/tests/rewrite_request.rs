//! Upstream request heads: written, re-parsed with httparse, compared field by
//! field. This file: hop-by-hop fields, forwarding headers and route edits;
//! `rewrite_target.rs` covers the request target, Host, framing and upgrades.

#[path = "support/upstream_head.rs"]
mod upstream_head;

use upstream_head::*;

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
