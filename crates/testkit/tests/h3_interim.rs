//! Interim (1xx) responses through the HTTP/3 front end, from an aioquic
//! client on real sockets, both drivers: an origin's 103 Early Hints reach
//! the client as interim HEADERS (RFC 9110 §15.2: a proxy MUST forward 1xx
//! responses), an origin's unasked 100 does not, and a client that sends
//! `expect: 100-continue` gets the gateway's 100 before it sends its body
//! (§10.1.1), with or without a Content-Length; any other expectation is 417.

mod h3_support;

use std::time::Duration;

use h3_support::{listener, start};
use shardgate_testkit::h3client::{self, H3Plan, H3Request, H3Response};
use shardgate_testkit::{each_driver, handler, handlers, After, Driver, Origin, TestCert};

each_driver!(
    early_hints_are_forwarded_and_an_unasked_100_is_not,
    expect_100_continue_is_answered_before_the_body,
);

/// Longer than any wait of a passing run: a client that never saw its 100
/// sends the body only after this, with no interim response recorded.
const EXPECT_WAIT: Duration = Duration::from_secs(8);

fn plan(addr: std::net::SocketAddr, cert: &TestCert) -> H3Plan {
    H3Plan::new(addr, "localhost", cert)
        .timeout(Duration::from_secs(30))
        .keep_body(4096)
}

fn interim_statuses(r: &H3Response) -> Vec<u16> {
    r.interim.iter().map(|(s, _)| *s).collect()
}

fn early_hints_are_forwarded_and_an_unasked_100_is_not(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handler(|_, r| {
        r.write(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        r.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n")?;
        r.write(b"HTTP/1.1 103 Early Hints\r\nlink: </b.js>; rel=preload\r\n\r\n")?;
        r.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-final: yes\r\n\r\nok")?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = start(driver, "hints", &origin, &[&cert]);
    let addr = listener(&gw, "hints", driver);

    // Two requests on one connection: the stream after the hints works too.
    let p = plan(addr, &cert)
        .request(H3Request::get("/page"))
        .request(H3Request::get("/again"));
    let res = h3client::run(&p).unwrap();
    assert!(res.ok, "{}", res.summary());
    for r in &res.requests {
        assert_eq!(r.status, Some(200), "{}", res.summary());
        assert_eq!(r.body, "ok");
        assert_eq!(r.header("x-final"), Some("yes"));
        assert_eq!(interim_statuses(r), [103, 103], "{:?}", r.interim);
        let links: Vec<Option<&str>> = r
            .interim
            .iter()
            .map(|(_, h)| h.iter().find(|(n, _)| n == "link").map(|(_, v)| v.as_str()))
            .collect();
        assert_eq!(
            links,
            [Some("</a.css>; rel=preload"), Some("</b.js>; rel=preload")]
        );
        // The 103s carry no connection-specific or framing fields.
        for (_, h) in &r.interim {
            assert!(
                h.iter().all(|(n, _)| n != "content-length"
                    && n != "transfer-encoding"
                    && n != "connection"),
                "{h:?}"
            );
        }
    }
    assert_eq!(origin.requests(), 2);
}

fn expect_100_continue_is_answered_before_the_body(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "expect", &origin, &[&cert]);
    let addr = listener(&gw, "expect", driver);

    // With a Content-Length, and without one (sent upstream chunked).
    for declared in [true, false] {
        let mut req = H3Request::post("/upload")
            .header("expect", "100-Continue")
            .body("hello")
            .pause_after_headers(EXPECT_WAIT)
            .wait_interim();
        if !declared {
            req = req.no_content_length();
        }
        let res = h3client::run(&plan(addr, &cert).request(req)).unwrap();
        let r = &res.requests[0];
        assert_eq!(r.status, Some(200), "{}", res.summary());
        assert_eq!(
            interim_statuses(r),
            [100],
            "declared length {declared}: the gateway says go on, once: {}",
            res.summary()
        );
        let got = origin.last().unwrap();
        assert_eq!(got.body, b"hello", "declared length {declared}");
        // The gateway answered the expectation; the origin never sees it.
        assert!(!got.headers.has("expect"), "declared length {declared}");
        let elapsed = res.raw["requests"][0]["elapsed_ms"].as_f64().unwrap();
        assert!(
            elapsed < EXPECT_WAIT.as_millis() as f64,
            "the body waited out the client's pause: {elapsed} ms"
        );
    }

    // Nor for a body declared empty (RFC 9110 §10.1.1: nothing to wait for).
    let empty = H3Request::post("/empty")
        .header("expect", "100-continue")
        .body("")
        .content_length(0);
    let res = h3client::run(&plan(addr, &cert).request(empty)).unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert!(
        r.interim.is_empty(),
        "a 100 for an empty body: {:?}",
        r.interim
    );

    // Without the expectation no 100 is sent.
    let res =
        h3client::run(&plan(addr, &cert).request(H3Request::post("/plain").body("abc"))).unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert!(r.interim.is_empty(), "{:?}", r.interim);

    // Any other expectation is refused before the origin is asked.
    let before = origin.requests();
    let odd = H3Request::post("/odd")
        .header("expect", "something-else")
        .body("x");
    let res = h3client::run(&plan(addr, &cert).request(odd)).unwrap();
    assert_eq!(res.requests[0].status, Some(417), "{}", res.summary());
    assert!(res.requests[0].interim.is_empty());
    assert_eq!(origin.requests(), before);
}
