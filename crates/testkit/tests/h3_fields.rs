//! What an HTTP/3 request turns into on its way to an HTTP/1.1 origin, from
//! an aioquic client on real sockets, both drivers: split `cookie` fields
//! arrive as one (RFC 9114 §4.2.1); empty DATA frames do not end a body
//! (§7.2.1); `:authority` with userinfo, a Host that disagrees with it, and
//! two Host fields are malformed (§4.3.1) and reach no origin; the HTTP/1.1
//! head limits answer 414 and 431; a body that never comes gets 408.

mod h3_support;

use std::time::Duration;

use h3_support::{listener, start};
use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::{each_driver, handlers, Driver, Origin, TestCert};

each_driver!(
    split_cookies_arrive_joined,
    empty_data_frames_do_not_end_the_body,
    userinfo_and_disagreeing_hosts_are_malformed,
    head_limits_answer_414_and_431,
    a_body_that_never_comes_gets_408,
);

fn plan(addr: std::net::SocketAddr, cert: &TestCert) -> H3Plan {
    H3Plan::new(addr, "localhost", cert).timeout(Duration::from_secs(15))
}

fn split_cookies_arrive_joined(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = start(driver, "cookie", &origin, &[&cert]);
    let addr = listener(&gw, "cookie", driver);
    let res = h3client::run(
        &plan(addr, &cert).request(
            H3Request::get("/c")
                .header("cookie", "a=1")
                .header("x-other", "y")
                .header("cookie", "b=2")
                .header("cookie", "c=3"),
        ),
    )
    .unwrap();
    assert_eq!(res.requests[0].status, Some(200), "{}", res.summary());
    let got = origin.last().unwrap();
    assert_eq!(got.headers.get_all("cookie"), ["a=1; b=2; c=3"]);
    assert_eq!(got.header("x-other"), Some("y"));
    // One cookie field goes as it came.
    h3client::run(&plan(addr, &cert).request(H3Request::get("/c").header("cookie", "solo=1")))
        .unwrap();
    assert_eq!(origin.last().unwrap().headers.get_all("cookie"), ["solo=1"]);
}

fn empty_data_frames_do_not_end_the_body(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = start(driver, "emptydata", &origin, &[&cert]);
    let addr = listener(&gw, "emptydata", driver);
    let cases: [(&[&str], bool); 3] = [
        (&["", "0123456789"], false),
        (&["hello", "", "0123456789"], false),
        (&["0123456789", "", "abcdefghij"], true),
    ];
    for (parts, declared) in cases {
        let mut r = H3Request::post("/e").body_parts(parts);
        if !declared {
            r = r.no_content_length();
        }
        let res = h3client::run(&plan(addr, &cert).request(r)).unwrap();
        assert_eq!(
            res.requests[0].status,
            Some(200),
            "{parts:?}: {}",
            res.summary()
        );
        let got = origin.last().unwrap();
        assert!(got.complete, "{parts:?}");
        assert_eq!(got.body, parts.concat().as_bytes(), "{parts:?}");
    }
}

fn userinfo_and_disagreeing_hosts_are_malformed(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = start(driver, "authority", &origin, &[&cert]);
    let addr = listener(&gw, "authority", driver);
    let head = |authority: Option<&'static str>, hosts: &[&'static str]| {
        let mut v = vec![(":method", "GET"), (":scheme", "https"), (":path", "/a")];
        if let Some(a) = authority {
            v.push((":authority", a));
        }
        v.extend(hosts.iter().map(|h| ("host", *h)));
        v
    };
    let cases = [
        ("userinfo", head(Some("user:pw@localhost"), &[])),
        (
            "two hosts in one",
            head(Some("evil.example@localhost"), &[]),
        ),
        (
            "host disagrees",
            head(Some("localhost"), &["other.example"]),
        ),
        (
            "two host fields",
            head(None, &["localhost", "other.example"]),
        ),
        ("userinfo in host", head(None, &["u@localhost"])),
    ];
    for (what, hs) in &cases {
        let res = h3client::run(&plan(addr, &cert).request(H3Request::raw(hs))).unwrap();
        let r = &res.requests[0];
        assert_eq!(r.status, None, "{what}: {}", res.summary());
        assert!(
            r.error.as_deref().is_some_and(|e| e.contains("0x10e")),
            "{what}: not H3_MESSAGE_ERROR: {}",
            res.summary()
        );
    }
    assert_eq!(
        origin.requests(),
        0,
        "a malformed request reached the origin"
    );
    // Agreeing fields are fine.
    let ok = head(Some("localhost"), &["localhost"]);
    let res = h3client::run(&plan(addr, &cert).request(H3Request::raw(&ok))).unwrap();
    assert_eq!(res.requests[0].status, Some(200), "{}", res.summary());
}

fn head_limits_answer_414_and_431(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = start(driver, "limits", &origin, &[&cert]);
    let addr = listener(&gw, "limits", driver);
    // Defaults: max_request_line 8 KiB, max_headers 100.
    let long = format!("/{}", "a".repeat(9000));
    let mut many = H3Request::get("/many");
    for i in 0..101 {
        many = many.header(&format!("x-{i}"), "1");
    }
    let res = h3client::run(
        &plan(addr, &cert)
            .request(H3Request::get(&long))
            .request(many)
            .request(H3Request::get("/fine")),
    )
    .unwrap();
    let statuses = res.statuses();
    assert_eq!(
        statuses,
        [Some(414), Some(431), Some(200)],
        "{}",
        res.summary()
    );
    assert_eq!(origin.requests(), 1);
    assert_eq!(origin.last().unwrap().target, "/fine");
}

fn a_body_that_never_comes_gets_408(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = shardgate_testkit::Gateway::builder(&h3_support::H3.replace(
        "[admin]",
        "[server.timeouts]\nbody_read = \"1s\"\n\n[admin]",
    ))
    .var("NAME", format!("nobody-{driver}"))
    .var("UP", origin.addr())
    .var("CERTS", cert.toml())
    .driver(driver)
    .start()
    .unwrap();
    let addr = listener(&gw, "nobody", driver);
    // HEADERS without FIN and without Content-Length, then nothing.
    let r = H3Request::post("/static/x")
        .no_content_length()
        .body_parts(&["late"])
        .pause_after_headers(Duration::from_secs(5));
    let res = h3client::run(&plan(addr, &cert).request(r).timeout(Duration::from_secs(8)));
    let res = res.unwrap();
    assert_eq!(res.requests[0].status, Some(408), "{}", res.summary());
    // The rest of the request is not needed: reading ends with H3_NO_ERROR
    // (RFC 9114 §4.1), not quinn's 0 (vendor/h3-quinn/PATCH.md).
    assert_eq!(
        res.requests[0].stop_sending,
        Some(0x100),
        "{}",
        res.summary()
    );
    assert_eq!(origin.requests(), 0);
}
