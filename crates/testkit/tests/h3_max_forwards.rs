//! Max-Forwards on OPTIONS and TRACE (RFC 9110 §7.6.2) through the HTTP/3
//! front end, from an aioquic client on real sockets, both drivers: a zero
//! is answered by the gateway (TRACE reflected as `message/http` without
//! credentials), a count goes upstream one lower, a malformed one is 400.

mod h3_support;

use std::time::Duration;

use h3_support::{listener, start};
use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::{each_driver, handlers, Driver, Origin, TestCert};

each_driver!(
    a_spent_count_is_answered_by_the_gateway,
    a_count_goes_upstream_one_lower_and_a_bad_one_is_400,
);

fn plan(addr: std::net::SocketAddr, cert: &TestCert) -> H3Plan {
    H3Plan::new(addr, "localhost", cert)
        .timeout(Duration::from_secs(15))
        .keep_body(4096)
}

fn a_spent_count_is_answered_by_the_gateway(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"from origin")).unwrap();
    let gw = start(driver, "mf0", &origin, &[&cert]);
    let addr = listener(&gw, "mf0", driver);

    let options = H3Request::new("OPTIONS", "/o").header("max-forwards", "0");
    let res = h3client::run(&plan(addr, &cert).request(options)).unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.body_len, 0, "{}", res.summary());

    let trace = H3Request::new("TRACE", "/t?q=1")
        .header("authorization", "Basic c2VjcmV0")
        .header("x-probe", "yes")
        .header("cookie", "session=secret")
        .header("max-forwards", "0");
    let res = h3client::run(&plan(addr, &cert).request(trace)).unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.header("content-type"), Some("message/http"));
    let (line, rest) = r.body.split_once("\r\n").unwrap();
    assert_eq!(line, "TRACE /t?q=1 HTTP/1.1");
    let mut fields: Vec<&str> = rest.split("\r\n").collect();
    assert_eq!(fields.split_off(fields.len() - 2), ["", ""], "{}", r.body);
    fields.sort_unstable();
    assert_eq!(fields.len(), 3, "{}", r.body);
    assert!(fields[0].starts_with("host: localhost"), "{}", r.body);
    assert_eq!(fields[1..], ["max-forwards: 0", "x-probe: yes"]);
    assert!(!r.body.contains("secret"), "{}", r.body);

    assert_eq!(origin.requests(), 0, "a spent count reached the origin");
}

fn a_count_goes_upstream_one_lower_and_a_bad_one_is_400(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"from origin")).unwrap();
    let gw = start(driver, "mf", &origin, &[&cert]);
    let addr = listener(&gw, "mf", driver);

    let res = h3client::run(
        &plan(addr, &cert).request(H3Request::new("TRACE", "/t").header("max-forwards", "3")),
    )
    .unwrap();
    assert_eq!(res.requests[0].status, Some(200), "{}", res.summary());
    assert_eq!(res.requests[0].body, "from origin");
    let got = origin.last().unwrap();
    assert_eq!(got.method, "TRACE");
    assert_eq!(got.headers.get_all("max-forwards"), ["2"]);

    for bad in ["x", "-1", "1,1"] {
        let r = H3Request::new("OPTIONS", "/o").header("max-forwards", bad);
        let res = h3client::run(&plan(addr, &cert).request(r)).unwrap();
        assert_eq!(
            res.requests[0].status,
            Some(400),
            "{bad}: {}",
            res.summary()
        );
    }
    assert_eq!(origin.requests(), 1);
}
