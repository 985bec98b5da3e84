//! `[listener.quic] retry_threshold`: while that many of a shard's
//! connections are in their handshake (here: Initials from clients that
//! never answer, as a spoofed-source flood sends them), a new connection gets
//! a stateless Retry first and is served after it; once those handshakes
//! time out, new connections are served without one; 0 never retries.
//! aioquic on real sockets (`tools/h3amplify.py` for the silent Initials,
//! `tools/h3client.py` for the real client), both drivers.

use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use shardgate_testkit::h3probe;
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{each_driver, wait_until, Driver, Gateway, TestCert};

/// Metrics are process-wide (the gateways run in-process): one measurer at
/// a time.
static COUNTERS: Mutex<()> = Mutex::new(());

each_driver!(handshakes_past_the_threshold_make_new_clients_retry);
each_driver!(a_zero_threshold_never_retries);

const CONFIG: &str = r#"
[admin]
address = "127.0.0.1:0"

[server.timeouts]
tls_handshake = "3s"

[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]
[listener.quic]
retry_threshold = ${THRESHOLD}

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn start(driver: Driver, cert: &TestCert, name: &str, threshold: usize) -> Gateway {
    Gateway::builder(CONFIG)
        .var("NAME", name)
        .var("CERTS", cert.toml())
        .var("THRESHOLD", threshold)
        .driver(driver)
        .start()
        .unwrap()
}

fn retries(gw: &Gateway) -> f64 {
    scrape_sum(gw.admin().unwrap(), "shardgate_quic_retries_total", &[])
}

fn busy(gw: &Gateway, name: &str) -> f64 {
    scrape_sum(
        gw.admin().unwrap(),
        "shardgate_quic_connections",
        &[("listener", name), ("state", "busy")],
    )
}

/// One connection, one GET: it must be answered.
fn client(gw: &Gateway, name: &str, cert: &TestCert) {
    let res = h3probe::new_client_get(gw.addr(name), cert).unwrap();
    assert_eq!(res.statuses(), [Some(200)], "{}", res.summary());
}

/// Runs `during` while `n` clients that sent their first Initial and never
/// answer (each half-open until `tls_handshake`) are in the table.
fn with_silent_initials(
    gw: &Gateway,
    name: &str,
    cert: &TestCert,
    n: usize,
    during: impl FnOnce(),
) {
    let addr = gw.addr(name);
    thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let r = shardgate_testkit::h3probe::run("h3amplify.py", addr, cert, &["handshake"])
                    .unwrap();
                assert!(r["server_bytes"].as_u64().unwrap_or(0) > 0, "{r}");
            });
        }
        assert!(
            wait_until(Duration::from_secs(5), || busy(gw, name) >= n as f64),
            "{n} half-open connections in the table: {}",
            busy(gw, name)
        );
        during();
    });
}

fn handshakes_past_the_threshold_make_new_clients_retry(driver: Driver) {
    let _g = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("rt-{driver}");
    let gw = start(driver, &cert, &name, 2);

    // Below the threshold: no Retry.
    let before = retries(&gw);
    client(&gw, &name, &cert);
    assert_eq!(retries(&gw) - before, 0.0, "no flood, no retry");

    // Two handshakes under way: the next client retries, and is served.
    with_silent_initials(&gw, &name, &cert, 2, || {
        let before = retries(&gw);
        client(&gw, &name, &cert);
        assert_eq!(
            retries(&gw) - before,
            1.0,
            "one Retry for the one new connection"
        );
    });

    // The silent handshakes time out (3 s) and leave the table: no Retry.
    assert!(
        wait_until(Duration::from_secs(8), || busy(&gw, &name) == 0.0),
        "half-open connections end at tls_handshake: {}",
        busy(&gw, &name)
    );
    let before = retries(&gw);
    client(&gw, &name, &cert);
    assert_eq!(retries(&gw) - before, 0.0, "the flood is over");
}

fn a_zero_threshold_never_retries(driver: Driver) {
    let _g = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("rt0-{driver}");
    let gw = start(driver, &cert, &name, 0);
    with_silent_initials(&gw, &name, &cert, 2, || {
        let before = retries(&gw);
        client(&gw, &name, &cert);
        assert_eq!(retries(&gw) - before, 0.0, "retry_threshold = 0");
    });
}
