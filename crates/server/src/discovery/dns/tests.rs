use std::net::IpAddr;

use super::*;

/// A reply to `query(7, "app.test", qtype)` with `answers` already encoded.
fn reply(flags: u16, qtype: u16, answers: &[Vec<u8>]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&7u16.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(b"\x03app\x04test\x00");
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for a in answers {
        m.extend_from_slice(a);
    }
    m
}

/// A record whose owner is `owner` (encoded name bytes).
fn rr(owner: &[u8], rtype: u16, ttl: u32, data: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&(data.len() as u16).to_be_bytes());
    r.extend_from_slice(data);
    r
}

/// A pointer to the question's name (offset 12).
const QNAME: &[u8] = &[0xC0, 12];

#[test]
fn a_query_is_what_a_resolver_expects() {
    let q = query(0x1234, "app.test", TYPE_A);
    assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
    assert_eq!(&q[12..22], b"\x03app\x04test\x00");
    assert_eq!(&q[22..26], &[0, 1, 0, 1]);
    // ARCOUNT 1 and the OPT record (type 41) at the end.
    assert_eq!(&q[10..12], &[0, 1]);
    assert_eq!(&q[27..29], &[0, 41]);
}

#[test]
fn addresses_and_the_smallest_ttl() {
    let m = reply(
        0x8180,
        TYPE_A,
        &[
            rr(QNAME, TYPE_A, 300, &[10, 0, 0, 1]),
            rr(QNAME, TYPE_A, 60, &[10, 0, 0, 2]),
        ],
    );
    let r = parse(&m, "app.test", TYPE_A).unwrap();
    assert_eq!(r.id, 7);
    assert_eq!(r.rcode, Rcode::NoError);
    assert!(!r.truncated);
    assert_eq!(
        r.addrs,
        [
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "10.0.0.2".parse().unwrap()
        ]
    );
    assert_eq!(r.ttl, Some(60));
}

#[test]
fn a_cname_chain_is_followed_and_its_ttl_counts() {
    // app.test CNAME b.test (ttl 30); b.test A 10.1.1.1 (ttl 600); and an
    // unrelated A record that must not be taken.
    let m = reply(
        0x8180,
        TYPE_A,
        &[
            rr(QNAME, 5, 30, b"\x01b\x04test\x00"),
            rr(b"\x01b\x04test\x00", TYPE_A, 600, &[10, 1, 1, 1]),
            rr(b"\x05other\x04test\x00", TYPE_A, 5, &[10, 9, 9, 9]),
        ],
    );
    let r = parse(&m, "app.test", TYPE_A).unwrap();
    assert_eq!(r.addrs, ["10.1.1.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(r.ttl, Some(30));
}

#[test]
fn aaaa_nxdomain_servfail_and_truncation() {
    let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let r = parse(
        &reply(0x8180, TYPE_AAAA, &[rr(QNAME, TYPE_AAAA, 9, &v6)]),
        "app.test",
        TYPE_AAAA,
    )
    .unwrap();
    assert_eq!(r.addrs, ["2001:db8::1".parse::<IpAddr>().unwrap()]);
    assert_eq!(
        parse(&reply(0x8183, TYPE_A, &[]), "app.test", TYPE_A)
            .unwrap()
            .rcode,
        Rcode::NxDomain
    );
    assert_eq!(
        parse(&reply(0x8182, TYPE_A, &[]), "app.test", TYPE_A)
            .unwrap()
            .rcode,
        Rcode::Other(2)
    );
    assert!(
        parse(&reply(0x8380, TYPE_A, &[]), "app.test", TYPE_A)
            .unwrap()
            .truncated
    );
}

#[test]
fn replies_to_other_questions_and_queries_are_refused() {
    let m = reply(0x8180, TYPE_A, &[]);
    assert!(parse(&m, "other.test", TYPE_A).is_err());
    assert!(parse(&m, "app.test", TYPE_AAAA).is_err());
    assert!(parse(&reply(0x0100, TYPE_A, &[]), "app.test", TYPE_A).is_err());
}

#[test]
fn compression_loops_and_cut_messages_are_errors_not_hangs() {
    // An answer whose owner points at itself.
    let mut m = reply(0x8180, TYPE_A, &[]);
    m[7] = 1; // ANCOUNT
    let at = m.len() as u8;
    m.extend_from_slice(&[0xC0, at]);
    assert!(parse(&m, "app.test", TYPE_A).is_err());
    let full = reply(0x8180, TYPE_A, &[rr(QNAME, TYPE_A, 1, &[1, 2, 3, 4])]);
    for cut in 0..full.len() {
        assert!(
            parse(&full[..cut], "app.test", TYPE_A).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = reply(
        0x8180,
        TYPE_A,
        &[
            rr(QNAME, 5, 1, &[0xC0, 12]),
            rr(QNAME, TYPE_A, 1, &[1, 2, 3, 4]),
        ],
    );
    for _ in 0..20_000 {
        let mut m = base.clone();
        for _ in 0..(next() % 6) {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        m.truncate((next() as usize) % (m.len() + 1));
        let _ = parse(&m, "app.test", TYPE_A);
    }
}
