//! parse_response must never panic, must honour the no-body rules, agree
//! with itself on prefixes, and re-parse its own output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate_http::{
    finish_head, parse_response, write_header, write_status_line, BodyKind, HeaderStore, Limits,
    Parsed, ResponseHead,
};

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

fn check_roundtrip(head: &ResponseHead<'_>, limits: &Limits, was_head: bool) {
    let mut out = Vec::new();
    write_status_line(&mut out, head.status, head.reason);
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
    let Ok(Parsed::Complete(again)) = parse_response(&out, &big, &mut store, was_head) else {
        panic!(
            "re-serialised head does not parse: {:?}",
            String::from_utf8_lossy(&out)
        );
    };
    assert_eq!(again.status, head.status);
    assert_eq!(again.headers, head.headers);
    assert_eq!(again.body, head.body);
    assert_eq!(again.keep_alive, head.keep_alive);
    assert_eq!(again.head_len, out.len());
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
                    if head.minor_version == 1 {
                        check_roundtrip(&head, &limits, was_head);
                    }
                }
                Ok(Parsed::Partial) => assert!(buf.len() < limits.max_head_bytes),
                Err(e) => assert!(matches!(e.status(), 400 | 431 | 501 | 505)),
            }
        }
    }
});
