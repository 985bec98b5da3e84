//! parse_request must never panic and must agree with itself on prefixes of a
//! complete head (incremental reads); a complete head, rewritten by the
//! writer production uses (`shardgate_proxy::write_upstream_request`), must
//! parse again to the same request without the client's hop-by-hop fields.
#![no_main]

use std::net::IpAddr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shardgate_config::Config;
use shardgate_http::{
    absolute_authority, parse_request, BodyKind, ChunkedDecoder, HeaderStore, Limits, Parsed,
    RequestHead, MAX_HEADERS,
};
use shardgate_proxy::{write_upstream_request, ForwardCtx, Framing};

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    o.start as usize <= i.start as usize && i.end as usize <= o.end as usize
}

fn check_head(buf: &[u8], limits: &Limits, head: &RequestHead<'_>) {
    assert!(head.head_len <= buf.len());
    assert!(head.head_len <= limits.max_head_bytes);
    let bytes = &buf[..head.head_len];
    assert!(bytes.ends_with(b"\r\n\r\n"));
    // every LF in the head is preceded by CR, every CR followed by LF
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && bytes[i - 1] == b'\r');
        }
        if b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'));
        }
    }
    assert!(head.minor_version <= 1);
    assert!(head.headers.len() <= limits.max_headers);
    assert!(head.body != BodyKind::CloseDelimited);
    assert!(within(bytes, head.method.as_bytes()));
    assert!(within(bytes, head.target.as_bytes()));
    for h in head.headers {
        assert!(within(bytes, h.name.as_bytes()));
        assert!(within(bytes, h.value));
        assert!(!h.value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
    }
    if head.minor_version == 1 {
        assert!(head.host.is_some());
    }
    let has = |name: &str| {
        head.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    match head.body {
        BodyKind::Chunked => assert!(has("transfer-encoding") && !has("content-length")),
        BodyKind::Length(_) => assert!(has("content-length") && !has("transfer-encoding")),
        BodyKind::None => assert!(!has("content-length") && !has("transfer-encoding")),
        BodyKind::CloseDelimited => unreachable!(),
    }
}

/// Any strict prefix of a complete head is Partial: reads that split the
/// head anywhere must not change the verdict.
fn check_prefixes(buf: &[u8], limits: &Limits, head_len: usize) {
    let mut cuts = [
        0,
        head_len / 3,
        head_len / 2,
        head_len.saturating_sub(2),
        head_len - 1,
    ];
    cuts.sort_unstable();
    for cut in cuts {
        let mut store = HeaderStore::new();
        let r = parse_request(&buf[..cut], limits, &mut store);
        assert_eq!(r, Ok(Parsed::Partial), "prefix {cut} of {head_len}");
    }
}

/// The route the rewrite runs under: every forwarding field on and one edit
/// of each kind (plus a gateway-made request id), so the production writer's
/// whole field pipeline runs.
const CONFIG: &str = r#"
[[listener]]
name = "l"
address = "127.0.0.1:8080"

[[route]]
name = "fuzzed"
proxy = "up"
request_headers = { remove = ["x-debug"], set = { "x-env" = "fuzz" }, add = { "x-tag" = "a" } }
forwarded = { x_forwarded_for = true, x_forwarded_proto = true, forwarded = true, via = true }

[[upstream]]
name = "up"
servers = ["127.0.0.1:8081"]
"#;

fn config() -> &'static Config {
    static CONFIG_CELL: OnceLock<Config> = OnceLock::new();
    CONFIG_CELL.get_or_init(|| shardgate_config::parse(CONFIG, "fuzz.toml").expect("fuzz config"))
}

/// Rewrites the head exactly as the gateway does before forwarding it
/// (`shardgate_proxy::write_upstream_request`, framing chosen from the parsed
/// body as the server does), and checks that the upstream gets one
/// well-formed HTTP/1.1 head that our own parser accepts, frames the body the
/// same way, and carries none of the client's hop-by-hop or framing fields.
fn check_rewrite(head: &RequestHead<'_>) {
    let route = &config().routes[0];
    let framing = match head.body {
        BodyKind::Length(n) => Framing::Length(n),
        BodyKind::Chunked => Framing::Chunked,
        BodyKind::None | BodyKind::CloseDelimited => Framing::None,
    };
    let ctx = ForwardCtx {
        client_ip: IpAddr::from([192, 0, 2, 1]),
        scheme: "http",
        host: head.host,
        route,
        // As when the gateway makes the id: the client's field is replaced.
        request_id: Some((b"x-request-id", b"fuzz-1")),
        via: shardgate_proxy::VIA_HTTP11,
    };
    let mut out = Vec::new();
    write_upstream_request(
        &mut out,
        head.method,
        head.target,
        head.headers,
        &ctx,
        framing,
        head.upgrade,
    );
    let big = Limits {
        max_head_bytes: usize::MAX,
        max_request_line: usize::MAX,
        max_headers: MAX_HEADERS,
    };
    let mut store = HeaderStore::new();
    let Ok(Parsed::Complete(up)) = parse_request(&out, &big, &mut store) else {
        panic!(
            "rewritten head does not parse: {:?}",
            String::from_utf8_lossy(&out)
        );
    };
    assert_eq!(up.head_len, out.len());
    assert_eq!(up.minor_version, 1);
    assert_eq!(up.method, head.method);
    assert_eq!(up.body, head.body);
    match absolute_authority(head.target) {
        // Origin servers get origin-form; the authority becomes the Host.
        Some(authority) => {
            assert!(up.target.starts_with('/'), "{}", up.target);
            assert_eq!(up.host, Some(authority));
        }
        None => {
            assert_eq!(up.target, head.target);
            assert_eq!(up.host, Some(head.host.unwrap_or("")));
        }
    }
    let count = |name: &str| {
        up.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(count("host"), 1);
    assert_eq!(count("x-debug"), 0);
    assert_eq!(count("x-env"), 1);
    assert_eq!(count("x-forwarded-proto"), 1);
    assert_eq!(count("x-request-id"), 1);
    assert_eq!(
        count("content-length"),
        usize::from(matches!(framing, Framing::Length(_)))
    );
    assert_eq!(
        count("transfer-encoding"),
        usize::from(framing == Framing::Chunked)
    );
    for name in ["proxy-connection", "keep-alive", "te", "trailer", "expect"] {
        assert_eq!(count(name), 0, "{name} crossed");
    }
    if head.upgrade.is_none() {
        assert_eq!(count("connection") + count("upgrade"), 0);
    }
}

fuzz_target!(|buf: &[u8]| {
    // Two limit sets: the defaults, and tight ones derived from the input's
    // last bytes so the 414/431 paths get exercised too. The input itself is
    // a plain request, so seed files are readable HTTP.
    let tail = |i: usize| usize::from(buf.len().checked_sub(i).map_or(0, |j| buf[j]));
    let tight = Limits {
        max_request_line: tail(1),
        max_head_bytes: tail(2) * 4,
        max_headers: tail(3) % 16,
    };
    for limits in [Limits::default(), tight] {
        let mut store = HeaderStore::new();
        match parse_request(buf, &limits, &mut store) {
            Ok(Parsed::Complete(head)) => {
                check_head(buf, &limits, &head);
                check_prefixes(buf, &limits, head.head_len);
                check_rewrite(&head);
                if head.body == BodyKind::Chunked {
                    let rest = &buf[head.head_len..];
                    if let Ok(feed) = ChunkedDecoder::new().feed(rest) {
                        assert!(feed.consumed <= rest.len());
                    }
                }
            }
            Ok(Parsed::Partial) => assert!(buf.len() < limits.max_head_bytes),
            Err(e) => assert!(matches!(e.status(), 400 | 414 | 417 | 431 | 501 | 505)),
        }
    }
});
