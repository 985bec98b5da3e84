//! parse_request must never panic, must agree with itself on prefixes of a
//! complete head (incremental reads), and must re-parse its own output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate_http::{
    finish_head, parse_request, write_header, write_request_line, BodyKind, ChunkedDecoder,
    HeaderStore, Limits, Parsed, RequestHead,
};

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

/// Writing the head back out (HTTP/1.1 only: the writer always says 1.1)
/// must parse to the same request.
fn check_roundtrip(head: &RequestHead<'_>, limits: &Limits) {
    let mut out = Vec::new();
    write_request_line(&mut out, head.method, head.target);
    for h in head.headers {
        write_header(&mut out, h.name.as_bytes(), h.value);
    }
    finish_head(&mut out);
    let big = Limits {
        max_head_bytes: usize::MAX,
        max_request_line: usize::MAX,
        ..*limits
    };
    let mut store = HeaderStore::new();
    let Ok(Parsed::Complete(again)) = parse_request(&out, &big, &mut store) else {
        panic!(
            "re-serialised head does not parse: {:?}",
            String::from_utf8_lossy(&out)
        );
    };
    assert_eq!(again.method, head.method);
    assert_eq!(again.target, head.target);
    assert_eq!(again.headers, head.headers);
    assert_eq!(again.body, head.body);
    assert_eq!(again.host, head.host);
    assert_eq!(again.keep_alive, head.keep_alive);
    assert_eq!(again.expect_continue, head.expect_continue);
    assert_eq!(again.upgrade, head.upgrade);
    assert_eq!(again.head_len, out.len());
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
                if head.minor_version == 1 {
                    check_roundtrip(&head, &limits);
                }
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
