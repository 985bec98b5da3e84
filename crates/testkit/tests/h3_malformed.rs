//! Malformed HTTP/3 requests (RFC 9114 §4.1.2, §4.2, §4.3) against an `h3`
//! listener, from an aioquic client that sends raw header lists: each is a
//! stream error H3_MESSAGE_ERROR (or a 400), counted, nothing reaches the
//! origin, and the gateway keeps serving.

mod h3_support;

use std::sync::Mutex;
use std::time::Duration;

use h3_support::{listener, start};
use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{each_driver, handlers, wait_until, Driver, Origin, TestCert};

const MIB: usize = 1 << 20;

/// Held by whoever measures the process-wide `shardgate_quic_stream_errors_total`.
static STREAM_ERRORS: Mutex<()> = Mutex::new(());

each_driver!(
    malformed_requests_get_stream_errors_and_the_gateway_keeps_serving,
    content_length_that_disagrees_with_data_is_a_counted_stream_error,
    a_head_that_never_completes_is_ended_after_header_read,
);

/// (what, raw header section) of requests RFC 9114 §4.1.2 calls malformed.
fn malformed_cases() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let base = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/m"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut v = base.to_vec();
        v.push(extra);
        v
    };
    vec![
        ("missing :path", base[..3].to_vec()),
        ("missing :method", base[1..].to_vec()),
        ("unknown pseudo-header", with((":foo", "bar"))),
        ("duplicate :path", with((":path", "/other"))),
        (
            "pseudo-header after a regular field",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "localhost"),
                ("x-regular", "1"),
                (":path", "/m"),
            ],
        ),
        ("upper-case header name", with(("X-Upper", "1"))),
        ("connection header", with(("connection", "close"))),
        ("te other than trailers", with(("te", "gzip"))),
        (
            "CONNECT with :scheme and :path",
            vec![
                (":method", "CONNECT"),
                (":scheme", "https"),
                (":authority", "localhost:443"),
                (":path", "/m"),
            ],
        ),
        (
            "CONNECT without :authority",
            vec![(":method", "CONNECT"), ("host", "localhost:443")],
        ),
        (
            "asterisk :path outside OPTIONS",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "localhost"),
                (":path", "*"),
            ],
        ),
        (
            "fragment in :path",
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "localhost"),
                (":path", "/m#frag"),
            ],
        ),
        (
            "scheme other than http or https",
            vec![
                (":method", "GET"),
                (":scheme", "ftp"),
                (":authority", "localhost"),
                (":path", "/m"),
            ],
        ),
        (
            "empty :scheme",
            vec![
                (":method", "GET"),
                (":scheme", ""),
                (":authority", "localhost"),
                (":path", "/m"),
            ],
        ),
    ]
}

fn malformed_requests_get_stream_errors_and_the_gateway_keeps_serving(driver: Driver) {
    let _g = STREAM_ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "malformed", &origin, &[&cert]);
    let addr = listener(&gw, "malformed", driver);
    let admin = gw.admin().unwrap();
    let before = scrape_sum(admin, "shardgate_quic_stream_errors_total", &[]);
    let cases = malformed_cases();
    // Each on its own connection, all at once.
    let running: Vec<_> = cases
        .iter()
        .map(|(_, hs)| {
            let plan = H3Plan::new(addr, "localhost", &cert)
                .timeout(Duration::from_secs(10))
                .request(H3Request::raw(hs));
            h3client::spawn(&plan).unwrap()
        })
        .collect();
    let mut wrong = Vec::new();
    for ((what, _), run) in cases.iter().zip(running) {
        let res = run.wait().unwrap();
        let r = &res.requests[0];
        let stream_error = r.error.as_deref() == Some("stream_reset:0x10e");
        if !(stream_error || r.status == Some(400)) {
            wrong.push(format!("{what}: status {:?} error {:?}", r.status, r.error));
        }
    }
    // Nothing malformed reached the origin.
    for r in origin.received() {
        wrong.push(format!("reached the origin: {} {}", r.method, r.target));
    }
    // The gateway still serves new connections.
    let ok = h3client::run(&H3Plan::new(addr, "localhost", &cert).connections(2)).unwrap();
    assert!(ok.ok, "after malformed requests: {}", ok.summary());
    let mut counted = 0.0;
    wait_until(Duration::from_secs(2), || {
        counted = scrape_sum(admin, "shardgate_quic_stream_errors_total", &[]) - before;
        counted >= cases.len() as f64
    });
    if counted < cases.len() as f64 {
        wrong.push(format!(
            "shardgate_quic_stream_errors_total rose by {counted}, want {}",
            cases.len()
        ));
    }
    assert!(
        wrong.is_empty(),
        "malformed requests:\n{}",
        wrong.join("\n")
    );
}

/// RFC 9114 §4.1.2: a content-length that disagrees with the DATA frames'
/// total is malformed, and so is a trailer section with a pseudo-header
/// (§4.3): a stream error H3_MESSAGE_ERROR, counted like the other
/// malformed requests.
fn content_length_that_disagrees_with_data_is_a_counted_stream_error(driver: Driver) {
    let _g = STREAM_ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "clmismatch", &origin, &[&cert]);
    let addr = listener(&gw, "clmismatch", driver);
    let admin = gw.admin().unwrap();
    let before = scrape_sum(admin, "shardgate_quic_stream_errors_total", &[]);
    let cases = [
        (
            "content-length above the DATA sent",
            H3Request::post("/short").body("abc").content_length(10),
        ),
        (
            "content-length below the DATA sent",
            H3Request::post("/long").body("abcdefgh").content_length(2),
        ),
        (
            // The mismatch shows while more of the body is still arriving:
            // the stream error must not meet a read in flight (h3-quinn
            // panicked there, ADR 10).
            "content-length far below a 1 MiB body",
            H3Request::post("/huge")
                .body_size(MIB as u64)
                .content_length(10),
        ),
        (
            "DATA after content-length: 0",
            H3Request::post("/zero").body("abc").content_length(0),
        ),
        (
            "a pseudo-header in the trailers",
            H3Request::post("/trailed")
                .body("abc")
                .no_content_length()
                .trailers(&[(":path", "/elsewhere"), ("x-sum", "3")]),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, req) in cases.iter() {
        let plan = H3Plan::new(addr, "localhost", &cert)
            .timeout(Duration::from_secs(10))
            .request(req.clone());
        let res = h3client::run(&plan).unwrap();
        let r = &res.requests[0];
        let stream_error = r.error.as_deref() == Some("stream_reset:0x10e");
        if !(stream_error || r.status == Some(400)) {
            wrong.push(format!("{what}: status {:?} error {:?}", r.status, r.error));
        }
    }
    let ok = h3client::run(&H3Plan::new(addr, "localhost", &cert)).unwrap();
    assert!(ok.ok, "after malformed requests: {}", ok.summary());
    assert!(
        wrong.is_empty(),
        "not refused as malformed:\n{}",
        wrong.join("\n")
    );
    let mut counted = 0.0;
    wait_until(Duration::from_secs(2), || {
        counted = scrape_sum(admin, "shardgate_quic_stream_errors_total", &[]) - before;
        counted >= cases.len() as f64
    });
    assert!(
        counted >= cases.len() as f64,
        "shardgate_quic_stream_errors_total rose by {counted}, want {}",
        cases.len()
    );
    // Still serving once every stream error has been handled.
    let after = h3client::run(&H3Plan::new(addr, "localhost", &cert)).unwrap();
    assert!(after.ok, "after the stream errors: {}", after.summary());
}

const SLOW: &str = r#"
[server.timeouts]
header_read = "1s"

[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[[route]]
respond = { status = 200, body = "ok" }
"#;

/// A request stream whose HEADERS frame never completes (a slowloris on one
/// stream) is reset (H3_REQUEST_REJECTED) after `header_read`, like an
/// HTTP/1.1 head's 408; the connection's other requests are served.
fn a_head_that_never_completes_is_ended_after_header_read(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("slowhead-{driver}");
    let gw = shardgate_testkit::Gateway::builder(SLOW)
        .var("NAME", &name)
        .var("CERTS", cert.toml())
        .driver(driver)
        .start()
        .unwrap();
    let addr = gw.addr(&name);
    let r = shardgate_testkit::h3probe::run("h3stall.py", addr, &cert, &["5"]).unwrap();
    let after = r["ended_after_s"].as_f64();
    assert!(
        after.is_some_and(|t| (0.9..3.0).contains(&t)),
        "the stalled stream was not ended after header_read (1 s): {r}"
    );
    // Not an empty FIN (a response cut short): a reset saying the request
    // was not processed (H3_REQUEST_REJECTED, RFC 9114 §4.1.1).
    assert_eq!(
        (r["how"].as_str(), r["code"].as_u64()),
        (Some("reset"), Some(0x10b)),
        "{r}"
    );
    assert_eq!(r["get_status"], 200, "the connection stopped serving: {r}");
}
