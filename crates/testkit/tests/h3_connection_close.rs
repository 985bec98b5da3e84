//! How HTTP/3 connections end, counted in
//! `shardgate_quic_connections_closed_total{reason}` (never logged per
//! connection: a client triggers these), from an aioquic probe on real
//! sockets, both drivers: a clean close, a client that breaks HTTP/3 (the
//! gateway closes with H3_FRAME_UNEXPECTED, or H3_STREAM_CREATION_ERROR for
//! a client push stream), a client that closes with an error code, and one
//! that vanishes (the idle timeout ends it).

use std::sync::Mutex;
use std::time::Duration;

use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{each_driver, wait_until, Driver, Gateway, TestCert};

/// The counter is process-wide: one measurer at a time.
static CLOSED: Mutex<()> = Mutex::new(());

const METRIC: &str = "shardgate_quic_connections_closed_total";
const REASONS: [&str; 5] = [
    "clean",
    "idle_timeout",
    "protocol_error",
    "peer_error",
    "transport_error",
];

each_driver!(each_way_a_connection_ends_is_counted_once);

const CONFIG: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]
[listener.quic]
max_idle_time = "1s"
idle_jitter = 0.0

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn counts(admin: std::net::SocketAddr) -> Vec<f64> {
    REASONS
        .iter()
        .map(|r| scrape_sum(admin, METRIC, &[("reason", r)]))
        .collect()
}

fn probe(addr: std::net::SocketAddr, cert: &TestCert, how: &str) -> serde_json::Value {
    shardgate_testkit::h3probe::run("h3close.py", addr, cert, &[how]).unwrap()
}

fn each_way_a_connection_ends_is_counted_once(driver: Driver) {
    let _g = CLOSED.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("close-{driver}");
    let gw = Gateway::builder(CONFIG)
        .var("NAME", &name)
        .var("CERTS", cert.toml())
        .driver(driver)
        .start()
        .unwrap();
    let addr = gw.addr(&name);
    let admin = gw.admin().unwrap();
    for (how, reason) in [
        ("clean", "clean"),
        ("violate", "protocol_error"),
        ("push", "protocol_error"),
        ("error", "peer_error"),
        ("vanish", "idle_timeout"),
    ] {
        let before = counts(admin);
        let r = probe(addr, &cert, how);
        assert_eq!(r["get_status"], 200, "{how}: {r}");
        if how == "violate" {
            // RFC 9114 §7.2.4: SETTINGS on a request stream.
            assert_eq!(r["closed_by_server"], true, "{how}: {r}");
            assert_eq!(r["close_code"], 0x105, "{how}: H3_FRAME_UNEXPECTED: {r}");
        }
        if how == "push" {
            // RFC 9114 §6.2.2: only servers push.
            assert_eq!(r["closed_by_server"], true, "{how}: {r}");
            assert_eq!(
                r["close_code"], 0x103,
                "{how}: H3_STREAM_CREATION_ERROR: {r}"
            );
        }
        let want = REASONS.iter().position(|x| *x == reason).unwrap();
        let mut delta = Vec::new();
        wait_until(Duration::from_secs(5), || {
            delta = counts(admin)
                .iter()
                .zip(&before)
                .map(|(a, b)| a - b)
                .collect();
            delta[want] >= 1.0
        });
        let expected: Vec<f64> = (0..REASONS.len())
            .map(|i| if i == want { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(delta, expected, "{how}: per reason {REASONS:?}");
    }
}
