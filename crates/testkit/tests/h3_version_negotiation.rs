//! Version negotiation (RFC 9000 §6): the gateway speaks QUIC version 1 only
//! (RFC 9000; its ALPN is `h3`, RFC 9114), so a client's first packet of any
//! other version, a pre-RFC draft included, gets a Version Negotiation packet
//! listing version 1 (and a greasing version, §6.3), with the client's
//! connection IDs swapped back (§17.2.1). quinn's default also accepted the
//! drafts 29–34, which the gateway's `h3` ALPN could never serve. A raw UDP
//! probe (`tools/h3version.py`) on real sockets, both drivers.

use shardgate_testkit::{each_driver, h3probe, Driver, TestCert};

each_driver!(other_versions_get_version_negotiation_listing_version_1);

/// A version reserved for negotiation (`0x?a?a?a?a`, RFC 9000 §15).
fn is_greasing(v: u64) -> bool {
    v & 0x0f0f_0f0f == 0x0a0a_0a0a
}

fn other_versions_get_version_negotiation_listing_version_1(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("version-{driver}");
    let gw = h3probe::answering_gateway(driver, &cert, &name).unwrap();
    // draft-29, the last draft clients shipped, and a version nobody uses.
    for version in ["ff00001d", "ff000022", "5a5a5a5a"] {
        let r = h3probe::run("h3version.py", gw.addr(&name), &cert, &[version]).unwrap();
        let versions: Vec<u64> = r["versions"]
            .as_array()
            .unwrap_or_else(|| panic!("no Version Negotiation for {version}: {r}"))
            .iter()
            .filter_map(|v| v.as_u64())
            .collect();
        let real: Vec<u64> = versions
            .iter()
            .copied()
            .filter(|v| !is_greasing(*v))
            .collect();
        assert_eq!(real, [1], "{version}: {r}");
        assert_eq!(r["ids_echoed"], true, "{version}: {r}");
    }
    // Version 1 clients are served as ever.
    let res = h3probe::new_client_get(gw.addr(&name), &cert).unwrap();
    assert_eq!(res.statuses(), [Some(200)], "{}", res.summary());
}
