//! Upstream timeouts and their per-route overrides: the total timeout over
//! all attempts (504 before the response head, a close after it), and a
//! route's own `response_timeout`. Bounds are generous: they say "not before
//! the timeout" and "well before what would happen without it".

use std::time::{Duration, Instant};

mod retry_support;

use retry_support::{gateway, receipt};
use shardgate_testkit::{each_driver, handler, handlers, After, Client, Driver, Gateway, Origin};

each_driver!(
    the_total_timeout_spans_every_attempt,
    the_total_timeout_after_the_head_closes_the_connection,
    a_route_overrides_its_upstreams_response_timeout,
);

/// A 503 after `delay`.
fn late_503(delay: Duration) -> shardgate_testkit::Handler {
    handler(move |_, r| {
        std::thread::sleep(delay);
        r.write(&handlers::response_bytes(
            503,
            &[("x-from", "origin")],
            b"late",
        ))?;
        Ok(After::KeepAlive)
    })
}

fn the_total_timeout_spans_every_attempt(driver: Driver) {
    let origins: Vec<Origin> = (0..3)
        .map(|_| Origin::start(late_503(Duration::from_millis(800))).unwrap())
        .collect();
    let addrs: Vec<_> = origins.iter().map(Origin::addr).collect();
    // Each attempt alone is well within the total (and the 30 s response
    // timeout); the first answers at 0.8 s and is retried, the second would
    // answer at 1.6 s: the total ends the exchange at 1 s.
    let gw = gateway(
        driver,
        "total",
        &addrs,
        "[route.retry]\nattempts = 3\non = [\"503\"]",
        "total_timeout = \"1s\"",
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let t0 = Instant::now();
    let r = c.get("a", "/t").unwrap();
    let took = t0.elapsed();
    let saw: Vec<usize> = origins.iter().map(Origin::requests).collect();
    assert_eq!(r.status, 504, "{} {saw:?} {took:?}", r.body_str());
    assert_eq!(r.header("x-from"), None, "the gateway's own answer");
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    assert_eq!(saw, [1, 1, 0], "no attempt after the total ran out");
    assert_eq!(gw.retries("503"), 1.0);
}

fn the_total_timeout_after_the_head_closes_the_connection(driver: Driver) {
    let chunks: Vec<Vec<u8>> = (0..5).map(|_| vec![b'x'; 100]).collect();
    let slow = Origin::start(handlers::slow(
        Duration::ZERO,
        chunks,
        Duration::from_millis(300),
    ))
    .unwrap();
    // The route's total (the upstream has none): the head comes at once,
    // the body would take 1.5 s.
    let gw = gateway(
        driver,
        "totalbody",
        &[slow.addr()],
        "[route.timeouts]\ntotal_timeout = \"700ms\"",
        "",
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let t0 = Instant::now();
    let r = c.get("a", "/body").unwrap();
    assert_eq!(r.status, 200);
    assert!(!r.complete, "cut short: {} bytes", r.body.len());
    assert!(r.body.len() < 500);
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
    c.wait_closed(Duration::from_secs(1)).unwrap();
}

const TWO_ROUTES: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "fast"
path_prefix = "/fast"
proxy = "app"
[route.timeouts]
response_timeout = "300ms"

[[route]]
name = "patient"
path_prefix = "/"
proxy = "app"

[[upstream]]
name = "app"
servers = ["${UP}"]
response_timeout = "5s"
"#;

fn a_route_overrides_its_upstreams_response_timeout(driver: Driver) {
    let slow = Origin::start(handler(|req, r| {
        std::thread::sleep(Duration::from_millis(1200));
        receipt("slow")(req, r)
    }))
    .unwrap();
    let gw = Gateway::builder(TWO_ROUTES)
        .var("UP", slow.addr())
        .driver(driver)
        .start()
        .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let t0 = Instant::now();
    assert_eq!(c.get("a", "/fast/x").unwrap().status, 504);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // (With the upstream's 5 s the origin's answer would have come at 1.2 s.)
    // The other route keeps the upstream's 5 s and gets the answer.
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/patient").unwrap();
    assert_eq!((r.status, r.header("x-from")), (200, Some("slow")));
}
