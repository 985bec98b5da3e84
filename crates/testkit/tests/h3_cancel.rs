//! A client that cancels HTTP/3 requests (RFC 9114 §4.1.1: RESET_STREAM and
//! STOP_SENDING with H3_REQUEST_CANCELLED) while the origin has not answered
//! yet, or closes its connection with requests open: the gateway stops
//! waiting at once and closes those origin connections, instead of holding
//! each until `response_timeout`; the origin is not blamed (no upstream
//! failure, no ejection), and the gateway serves on. An upload the client
//! abandons (RESET_STREAM) is answered with H3_REQUEST_CANCELLED, not an
//! empty FIN. Both drivers.

mod h3_support;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use h3_support::{listener, start};
use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{each_driver, handlers, wait_until, Driver, Origin, TestCert};

/// Held by whoever measures the process-wide upstream failure counter.
static FAILURES: Mutex<()> = Mutex::new(());

/// The origin answers after this long: far past the cancellations.
const SLOW: Duration = Duration::from_secs(8);

each_driver!(
    cancelled_requests_release_their_origin_connections,
    a_closed_connection_releases_its_origin_connections,
    an_abandoned_upload_is_answered_with_a_reset,
);

/// Established TCP connections from the gateway to the origin, as `ss` sees
/// them from the gateway's side (the origin's handler threads are asleep
/// and would not notice a close).
fn to_origin(origin: SocketAddr) -> usize {
    let out = std::process::Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("( dport = :{} )", origin.port()),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn cancelled_requests_release_their_origin_connections(driver: Driver) {
    let _g = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin =
        Origin::start(handlers::slow(SLOW, vec![b"late".to_vec()], Duration::ZERO)).unwrap();
    let gw = start(driver, "cancel", &origin, &[&cert]);
    let addr = listener(&gw, "cancel", driver);
    let admin = gw.admin().unwrap();
    let failures = scrape_sum(admin, "shardgate_upstream_failures_total", &[]);
    let mut plan = H3Plan::new(addr, "localhost", &cert)
        .timeout(Duration::from_secs(6))
        .parallel(10);
    for i in 0..10 {
        plan = plan
            .request(H3Request::get(&format!("/c{i}")).cancel_after(Duration::from_millis(700)));
    }
    let t0 = Instant::now();
    let res = h3client::run(&plan).unwrap();
    assert!(
        res.requests
            .iter()
            .all(|r| r.error.as_deref() == Some("cancelled")),
        "{}",
        res.summary()
    );
    assert!(
        origin.requests() >= 10,
        "{} reached the origin",
        origin.requests()
    );
    assert!(
        wait_until(Duration::from_secs(2), || to_origin(origin.addr()) == 0),
        "{} origin connections still open {:?} after the cancels",
        to_origin(origin.addr()),
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < SLOW,
        "released only after the origin answered"
    );
    assert_eq!(
        scrape_sum(admin, "shardgate_upstream_failures_total", &[]) - failures,
        0.0,
        "a cancel was counted against the origin"
    );
    // The gateway serves on (a fresh origin answer).
    let fast =
        h3client::run(&H3Plan::new(addr, "localhost", &cert).request(H3Request::get("/static/ok")))
            .unwrap();
    assert_eq!(fast.requests[0].status, Some(200), "{}", fast.summary());
}

fn a_closed_connection_releases_its_origin_connections(driver: Driver) {
    let _g = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin =
        Origin::start(handlers::slow(SLOW, vec![b"late".to_vec()], Duration::ZERO)).unwrap();
    let gw = start(driver, "gone", &origin, &[&cert]);
    let addr = listener(&gw, "gone", driver);
    let admin = gw.admin().unwrap();
    let failures = scrape_sum(admin, "shardgate_upstream_failures_total", &[]);
    // The client gives up on the whole plan (and closes its connection)
    // with 10 requests open.
    let mut plan = H3Plan::new(addr, "localhost", &cert)
        .timeout(Duration::from_secs(1))
        .parallel(10);
    for i in 0..10 {
        plan = plan.request(H3Request::get(&format!("/g{i}")));
    }
    let t0 = Instant::now();
    let res = h3client::run(&plan).unwrap();
    assert!(
        res.requests.iter().all(|r| r.status.is_none()),
        "{}",
        res.summary()
    );
    assert!(
        origin.wait_requests(10, Duration::from_secs(2)),
        "{} reached the origin",
        origin.requests()
    );
    assert!(
        wait_until(Duration::from_secs(3), || to_origin(origin.addr()) == 0),
        "{} origin connections still open {:?} after the close",
        to_origin(origin.addr()),
        t0.elapsed()
    );
    assert!(t0.elapsed() < SLOW);
    assert_eq!(
        scrape_sum(admin, "shardgate_upstream_failures_total", &[]) - failures,
        0.0
    );
}

/// A client that resets its upload midway gets its stream reset back with
/// H3_REQUEST_CANCELLED (RFC 9114 §4.1.1), not an empty FIN that reads as
/// a complete, empty response; the origin never sees a complete body.
fn an_abandoned_upload_is_answered_with_a_reset(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = start(driver, "abandon", &origin, &[&cert]);
    let addr = listener(&gw, "abandon", driver);
    let r = H3Request::post("/up")
        .no_content_length()
        .body_parts(&["first part", "second part", "never sent"])
        .reset_after_parts(2)
        // The gateway has the head and waits for the body when the reset
        // comes (a reset before it read the head discards the head too).
        .pause_after_headers(Duration::from_millis(500));
    let res = h3client::run(
        &H3Plan::new(addr, "localhost", &cert)
            .timeout(Duration::from_secs(8))
            .request(r),
    )
    .unwrap();
    let q = &res.requests[0];
    assert_eq!(q.status, None, "{}", res.summary());
    assert_eq!(
        q.error.as_deref(),
        Some("stream_reset:0x10c"),
        "{}",
        res.summary()
    );
    assert!(
        origin.received().iter().all(|r| !r.complete),
        "a complete body reached the origin"
    );
}
