//! `[[listener]] max_connections_per_client`: one client (an IPv4 address)
//! holds at most that many connections on a listener, counted over every
//! shard and kept while a connection is parked; the next one is closed at
//! accept (TCP, before any TLS), or refused after a Retry proved the address
//! (QUIC). Other clients are served meanwhile, a freed connection is a new
//! allowance, and a reload changes the limit for new connections. Real
//! clients on real sockets (curl for a second source address, aioquic for
//! HTTP/3), both drivers.

use std::sync::Mutex;
use std::time::Duration;

use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::tls::TlsClient;
use shardgate_testkit::tools::curl;
use shardgate_testkit::{each_driver, wait_until, Client, Driver, Gateway, TestCert};

each_driver!(
    tcp_connections_past_the_limit_are_closed_at_accept,
    tls_connections_past_the_limit_get_no_handshake,
    quic_connections_past_the_limit_are_refused,
);

/// The refusal counter is process-wide and both drivers' halves run in one
/// process: one test at a time, so each sees only its own refusals.
static COUNTERS: Mutex<()> = Mutex::new(());

const REFUSED: &str = "shardgate_client_limit_refused_total";

const HTTP: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"
max_connections_per_client = ${LIMIT}

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn http_gateway(driver: Driver, limit: u32) -> Gateway {
    Gateway::builder(HTTP)
        .var("LIMIT", limit)
        .driver(driver)
        .shards(2)
        .start()
        .unwrap()
}

/// A two-shard gateway on `template`, its listener serving `cert`.
fn with_cert(template: &str, cert: &TestCert, driver: Driver) -> Gateway {
    Gateway::builder(template)
        .var("CERTS", cert.toml())
        .driver(driver)
        .shards(2)
        .start()
        .unwrap()
}

fn refused(gw: &Gateway) -> f64 {
    scrape_sum(gw.admin().unwrap(), REFUSED, &[])
}

/// A GET on a new connection is answered (true) or the connection is closed
/// without an answer (false).
fn served(gw: &Gateway) -> bool {
    Client::connect(gw.addr("public"))
        .and_then(|mut c| c.get("x", "/"))
        .is_ok_and(|r| r.status == 200)
}

fn curl_from(source: &str, url: &str, extra: &[&str]) -> u16 {
    let mut args = vec![
        "-sS",
        "-o",
        "/dev/null",
        "--interface",
        source,
        "--max-time",
        "5",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    curl(&args).map_or(0, |o| o.status)
}

fn tcp_connections_past_the_limit_are_closed_at_accept(driver: Driver) {
    let _one = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let gw = http_gateway(driver, 3);
    let before = refused(&gw);
    // Three keep-alive connections from 127.0.0.1, on both shards (the
    // kernel spreads them by port): each served.
    let mut held: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = Client::connect(gw.addr("public")).unwrap();
            assert_eq!(c.get("x", "/").unwrap().status, 200);
            c
        })
        .collect();
    // Idle past the hot window, they are parked: still counted.
    std::thread::sleep(Duration::from_millis(200));
    let mut fourth = Client::connect(gw.addr("public")).unwrap();
    assert!(
        fourth.get("x", "/").is_err(),
        "a fourth connection from the same address was served"
    );
    assert_eq!(refused(&gw) - before, 1.0);
    // Another client is not affected.
    let url = format!("http://{}/", gw.addr("public"));
    assert_eq!(curl_from("127.0.0.2", &url, &[]), 200);
    // The held ones still work, and one closed frees an allowance.
    for c in &mut held {
        assert_eq!(c.get("x", "/").unwrap().status, 200);
    }
    drop(held.pop());
    assert!(wait_until(Duration::from_secs(5), || served(&gw)));
    // A reload lowers the limit for new connections; the two open ones stay.
    gw.reload(&HTTP.replace("${LIMIT}", "1")).unwrap();
    assert!(!served(&gw), "over the lowered limit");
    for c in &mut held {
        assert_eq!(c.get("x", "/").unwrap().status, 200);
    }
    drop(held);
    assert!(wait_until(Duration::from_secs(5), || served(&gw)));
    // 0 turns it off.
    gw.reload(&HTTP.replace("${LIMIT}", "0")).unwrap();
    let many: Vec<Client> = (0..8)
        .map(|_| {
            let mut c = Client::connect(gw.addr("public")).unwrap();
            assert_eq!(c.get("x", "/").unwrap().status, 200);
            c
        })
        .collect();
    assert_eq!(many.len(), 8);
}

const TLS: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"
max_connections_per_client = 1
[listener.tls]
certificates = [${CERTS}]

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn tls_connections_past_the_limit_get_no_handshake(driver: Driver) {
    let _one = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let gw = with_cert(TLS, &cert, driver);
    let before = refused(&gw);
    let addr = gw.addr("public");
    let mut first = TlsClient::connect(addr, "localhost", &[&cert]).unwrap();
    assert_eq!(first.get("localhost", "/").unwrap().status, 200);
    // The second from the same address is closed before its handshake.
    let second = TlsClient::connect(addr, "localhost", &[&cert])
        .and_then(|mut c| c.get("localhost", "/").map(|r| r.status));
    assert!(second.is_err(), "second TLS connection: {second:?}");
    assert_eq!(refused(&gw) - before, 1.0);
    // Another address is served.
    let url = format!("https://localhost:{}/", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let ca = cert.cert.display().to_string();
    assert_eq!(
        curl_from("127.0.0.2", &url, &["--cacert", &ca, "--resolve", &resolve]),
        200
    );
    assert_eq!(first.get("localhost", "/").unwrap().status, 200);
    drop(first);
    assert!(wait_until(Duration::from_secs(5), || {
        TlsClient::connect(addr, "localhost", &[&cert])
            .and_then(|mut c| c.get("localhost", "/"))
            .is_ok_and(|r| r.status == 200)
    }));
}

const H3: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "h3"
address = "127.0.0.1:0"
protocol = "h3"
max_connections_per_client = 2
[listener.tls]
certificates = [${CERTS}]

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn quic_connections_past_the_limit_are_refused(driver: Driver) {
    let _one = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let gw = with_cert(H3, &cert, driver);
    let admin = gw.admin().unwrap();
    let before = refused(&gw);
    let retries = scrape_sum(admin, "shardgate_quic_retries_total", &[]);
    let handshakes = scrape_sum(admin, "shardgate_quic_handshakes_total", &[]);
    let addr = gw.addr("h3");
    // Two connections that hold on for 8 s before their request (the third
    // below must meet them still open, even on a loaded machine).
    let holding = h3client::spawn(
        &H3Plan::new(addr, "localhost", &cert)
            .connections(2)
            .request(H3Request::get("/").sleep_before(Duration::from_secs(8))),
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        scrape_sum(admin, "shardgate_quic_handshakes_total", &[]) - handshakes >= 2.0
    }));
    // Each proved its address first (a Retry), which is where it was counted.
    assert!(scrape_sum(admin, "shardgate_quic_retries_total", &[]) - retries >= 2.0);
    // A third from the same address is refused.
    let third = h3client::run(
        &H3Plan::new(addr, "localhost", &cert)
            .connections(1)
            .timeout(Duration::from_secs(5)),
    )
    .unwrap();
    assert_eq!(third.statuses(), [None], "{}", third.summary());
    assert!(
        third.connections.iter().all(|c| !c.handshake_ok),
        "{}",
        third.summary()
    );
    assert_eq!(refused(&gw) - before, 1.0);
    // The two held ones are served; once they closed, a new one is too.
    let held = holding.wait().unwrap();
    assert_eq!(
        held.statuses(),
        [Some(200), Some(200)],
        "{}",
        held.summary()
    );
    assert!(wait_until(Duration::from_secs(5), || {
        h3client::run(
            &H3Plan::new(addr, "localhost", &cert)
                .connections(1)
                .timeout(Duration::from_secs(3)),
        )
        .is_ok_and(|r| r.statuses() == [Some(200)])
    }));
}
