//! The client's SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2) through
//! the HTTP/3 front end, from an aioquic client on real sockets, both
//! drivers. A response head over it cannot be sent: the client gets a 502
//! that fits (or, when not even that fits, a stream reset), never a stream
//! that ends cleanly with no response in it. A trailer section over it is
//! dropped and the response, all of whose body arrived, still ends.

mod h3_support;

use std::time::Duration;

use h3_support::{listener, start};
use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::{each_driver, handlers, Driver, Origin, TestCert};

each_driver!(
    a_response_head_over_the_clients_limit_is_a_502,
    a_trailer_section_over_the_clients_limit_is_dropped,
);

fn plan(addr: std::net::SocketAddr, cert: &TestCert) -> H3Plan {
    H3Plan::new(addr, "localhost", cert)
        .timeout(Duration::from_secs(15))
        .keep_body(4096)
}

fn a_response_head_over_the_clients_limit_is_a_502(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let big = "b".repeat(2000);
    let origin = Origin::start(handlers::fixed(200, &[("x-big", &big)], b"from origin")).unwrap();
    let gw = start(driver, "fs", &origin, &[&cert]);
    let addr = listener(&gw, "fs", driver);

    // Within the limit: the head as the origin sent it.
    let res = h3client::run(
        &plan(addr, &cert)
            .max_field_section_size(8192)
            .request(H3Request::get("/p")),
    )
    .unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.header("x-big"), Some(big.as_str()));
    assert_eq!(r.body, "from origin");

    // Over it: a 502 the client can read, not an empty stream.
    let res = h3client::run(
        &plan(addr, &cert)
            .max_field_section_size(1000)
            .request(H3Request::get("/p")),
    )
    .unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(502), "{}", res.summary());
    assert_eq!(r.error, None, "{}", res.summary());
    assert_eq!(r.header("x-big"), None);
    assert_eq!(origin.requests(), 2);

    // A limit that not even a bare error head fits: the stream is reset
    // (H3_INTERNAL_ERROR), for a proxied answer and the gateway's own.
    for path in ["/p", "/static"] {
        let res = h3client::run(
            &plan(addr, &cert)
                .max_field_section_size(10)
                .request(H3Request::get(path)),
        )
        .unwrap();
        let r = &res.requests[0];
        assert_eq!(r.status, None, "{path}: {}", res.summary());
        assert_eq!(
            r.error.as_deref(),
            Some("stream_reset:0x102"),
            "{path}: {}",
            res.summary()
        );
    }
}

fn a_trailer_section_over_the_clients_limit_is_dropped(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let big = "t".repeat(2000);
    let chunks = vec![b"hello ".to_vec(), b"world".to_vec()];
    let origin = Origin::start(handlers::chunked(
        chunks,
        vec![("x-sum".into(), big.clone())],
    ))
    .unwrap();
    let gw = start(driver, "ft", &origin, &[&cert]);
    let addr = listener(&gw, "ft", driver);

    let res = h3client::run(
        &plan(addr, &cert)
            .max_field_section_size(8192)
            .request(H3Request::get("/c")),
    )
    .unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.body, "hello world");
    let trailers = r.trailers.clone().unwrap_or_default();
    assert_eq!(trailers, [("x-sum".to_string(), big)], "{}", res.summary());

    let res = h3client::run(
        &plan(addr, &cert)
            .max_field_section_size(1000)
            .request(H3Request::get("/c")),
    )
    .unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.error, None, "{}", res.summary());
    assert_eq!(r.body, "hello world");
    assert_eq!(r.trailers, None, "{}", res.summary());
}
