//! parse_response must never panic, must honour the no-body rules and agree
//! with itself on prefixes; a complete head, rewritten by the writer
//! production uses (`shardgate_proxy::write_downstream_response`), must parse
//! again to the same status and framing without the upstream's hop-by-hop
//! fields.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shardgate_config::Config;
use shardgate_http::{
    parse_response, BodyKind, HeaderStore, Limits, Parsed, ResponseHead, MAX_HEADERS,
};
use shardgate_proxy::{write_downstream_response, Framing};

fn check_head(buf: &[u8], limits: &Limits, head: &ResponseHead<'_>, was_head: bool) {
    assert!(head.head_len <= buf.len());
    assert!(head.head_len <= limits.max_head_bytes);
    assert!(buf[..head.head_len].ends_with(b"\r\n\r\n"));
    assert!((100..=599).contains(&head.status));
    assert!(head.minor_version <= 1);
    assert!(head.headers.len() <= limits.max_headers);
    let bodiless = was_head || head.status < 200 || head.status == 204 || head.status == 304;
    if bodiless {
        assert_eq!(head.body, BodyKind::None);
    }
    if head.body == BodyKind::CloseDelimited {
        assert!(!head.keep_alive);
    }
    if head.minor_version == 0 {
        assert!(!head
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding")));
    }
}

fn check_prefixes(buf: &[u8], limits: &Limits, head_len: usize, was_head: bool) {
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
        let r = parse_response(&buf[..cut], limits, &mut store, was_head);
        assert_eq!(r, Ok(Parsed::Partial), "prefix {cut} of {head_len}");
    }
}

/// The route the rewrite runs under: one response edit of each kind and Via
/// on, so the production writer's whole field pipeline runs.
const CONFIG: &str = r#"
[[listener]]
name = "l"
address = "127.0.0.1:8080"

[[route]]
name = "fuzzed"
proxy = "up"
response_headers = { remove = ["x-debug"], set = { "x-env" = "fuzz" }, add = { "x-tag" = "a" } }
forwarded = { via = true }

[[upstream]]
name = "up"
servers = ["127.0.0.1:8081"]
"#;

fn config() -> &'static Config {
    static CONFIG_CELL: OnceLock<Config> = OnceLock::new();
    CONFIG_CELL.get_or_init(|| shardgate_config::parse(CONFIG, "fuzz.toml").expect("fuzz config"))
}

/// Rewrites the head as the gateway does before sending it to the client
/// (`shardgate_proxy::write_downstream_response`, framing and keep-alive
/// chosen from the parsed head the way the server does for an HTTP/1.1
/// client), and checks that the client gets one well-formed head that our
/// own parser reads the same way: same status, same framing, same
/// keep-alive, none of the upstream's hop-by-hop or framing fields.
fn check_rewrite(head: &ResponseHead<'_>, was_head: bool) {
    let route = &config().routes[0];
    let upgrade = if head.status == 101 {
        head.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    } else {
        None
    };
    let framing = match head.body {
        BodyKind::Length(n) => Framing::Length(n),
        BodyKind::Chunked => Framing::Chunked,
        BodyKind::None | BodyKind::CloseDelimited => Framing::None,
    };
    let keep_alive = head.body != BodyKind::CloseDelimited;
    let mut out = Vec::new();
    write_downstream_response(
        &mut out,
        head.status,
        head.reason,
        head.headers,
        route,
        framing,
        keep_alive,
        upgrade,
        &|out: &mut Vec<u8>| out.extend_from_slice(b"Tue, 01 Dec 2026 00:00:00 GMT"),
    );
    let big = Limits {
        max_head_bytes: usize::MAX,
        max_request_line: usize::MAX,
        max_headers: MAX_HEADERS,
    };
    let mut store = HeaderStore::new();
    let Ok(Parsed::Complete(down)) = parse_response(&out, &big, &mut store, was_head) else {
        panic!(
            "rewritten head does not parse: {:?}",
            String::from_utf8_lossy(&out)
        );
    };
    assert_eq!(down.head_len, out.len());
    assert_eq!(down.minor_version, 1);
    assert_eq!(down.status, head.status);
    let count = |name: &str| {
        down.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(count("x-debug"), 0);
    assert_eq!(count("x-env"), 1);
    assert!(count("content-length") <= 1);
    for name in ["proxy-connection", "keep-alive", "te", "trailer"] {
        assert_eq!(count(name), 0, "{name} crossed");
    }
    if head.status >= 200 {
        // Final responses: the client frames the body as the upstream did
        // (close-delimited stays close-delimited, and says so).
        assert_eq!(down.body, head.body);
        assert_eq!(down.keep_alive, keep_alive);
        assert_eq!(count("upgrade"), 0);
        assert_eq!(
            count("transfer-encoding"),
            usize::from(framing == Framing::Chunked)
        );
    } else {
        // 1xx: no framing fields at all (RFC 9110 §8.6, RFC 9112 §6.1).
        assert_eq!(count("content-length") + count("transfer-encoding"), 0);
    }
}

fuzz_target!(|buf: &[u8]| {
    // Defaults plus tight limits from the input's last bytes, each for a GET
    // and a HEAD request; the input is a plain response (readable seeds).
    let tail = |i: usize| usize::from(buf.len().checked_sub(i).map_or(0, |j| buf[j]));
    let tight = Limits {
        max_request_line: tail(1),
        max_head_bytes: tail(2) * 4,
        max_headers: tail(3) % 16,
    };
    for limits in [Limits::default(), tight] {
        for was_head in [false, true] {
            let mut store = HeaderStore::new();
            match parse_response(buf, &limits, &mut store, was_head) {
                Ok(Parsed::Complete(head)) => {
                    check_head(buf, &limits, &head, was_head);
                    check_prefixes(buf, &limits, head.head_len, was_head);
                    check_rewrite(&head, was_head);
                }
                Ok(Parsed::Partial) => assert!(buf.len() < limits.max_head_bytes),
                Err(e) => assert!(matches!(e.status(), 400 | 431 | 501 | 505)),
            }
        }
    }
});
