//! Idle TLS connections are parked like cleartext ones (ADR 20): past the hot
//! window their task ends, the socket waits in the shard's parking lot and
//! the rustls session in the connection's slot. These tests check that the
//! session survives parking — requests, pipelining, large bodies, a key
//! update and a record split across a pause all work after it — and that an
//! expired parked connection ends with `close_notify`.

use std::time::Duration;

use shardgate_testkit::{
    each_driver, handlers, wait_until, Driver, Gateway, Origin, TestCert, TlsClient,
};

const CFG: &str = r#"
[server]
max_connections_per_shard = 64

[server.timeouts]
keepalive = "${KEEPALIVE}"

[[listener]]
name = "tls"
address = "127.0.0.1:0"
[listener.tls]
certificates = [${CERTS}]

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn start(driver: Driver, origin: &Origin, cert: &TestCert, keepalive: &str) -> Gateway {
    Gateway::builder(CFG)
        .var("UP", origin.addr())
        .var("CERTS", cert.toml())
        .var("KEEPALIVE", keepalive)
        .driver(driver)
        .shards(1)
        .start()
        .unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn parked(gw: &Gateway) -> u64 {
    gw.shard_stats()[0].parked
}

/// Waits until `n` more connections than `before` were parked.
fn wait_parked(gw: &Gateway, before: u64, n: u64) {
    assert!(
        wait_until(Duration::from_secs(3), || parked(gw) >= before + n),
        "expected {n} more parked connections: {:?}",
        gw.shard_stats()
    );
}

fn idle_tls_connections_park_and_resume(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, &origin, &cert, "60s");
    let addr = gw.addr("tls");
    let mut clients: Vec<TlsClient> = (0..20)
        .map(|_| TlsClient::connect(addr, "localhost", &[&cert]).unwrap())
        .collect();
    let before = parked(&gw);
    for c in &mut clients {
        assert_eq!(c.get("localhost", "/first").unwrap().status, 200);
    }
    wait_parked(&gw, before, 20);
    for round in 0..3 {
        let before = parked(&gw);
        for (i, c) in clients.iter_mut().enumerate() {
            let path = format!("/r{round}/c{i}");
            let r = c.get("localhost", &path).unwrap();
            assert_eq!(r.status, 200, "round {round}, client {i}");
            assert_eq!(r.header("x-echo-target"), Some(path.as_str()));
            assert!(!r.closes());
        }
        wait_parked(&gw, before, 20);
    }
    assert_eq!(gw.shard_stats()[0].active, 20);
    assert_eq!(
        gw.shard_stats()[0].accepted,
        20,
        "every request on its first connection"
    );
    clients.truncate(5);
    assert!(
        wait_until(Duration::from_secs(3), || gw.shard_stats()[0].active == 5),
        "clients that left while parked free their slots: {:?}",
        gw.shard_stats()
    );
    for c in &mut clients {
        assert_eq!(c.get("localhost", "/last").unwrap().status, 200);
    }
}

fn a_resumed_session_carries_pipelining_bodies_and_key_updates(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, &origin, &cert, "60s");
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    let before = parked(&gw);
    assert_eq!(c.get("localhost", "/warm").unwrap().status, 200);
    wait_parked(&gw, before, 1);

    // Three requests in one record wake the parked connection: all answered, in order.
    c.send(
        b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\nGET /p3 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    for want in ["/p1", "/p2", "/p3"] {
        let r = c.response().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-echo-target"), Some(want));
    }

    // A 1 MiB upload after parking, echoed back byte for byte.
    let before = parked(&gw);
    wait_parked(&gw, before, 1);
    let body = pattern(1 << 20);
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = c.request(&req).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body.ends_with(&body),
        "echoed body differs ({} bytes)",
        r.body.len()
    );
    assert_eq!(origin.last().unwrap().body, body);

    // New traffic keys while parked: the session must follow.
    let before = parked(&gw);
    wait_parked(&gw, before, 1);
    c.update_keys().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let r = c.get("localhost", "/after-key-update").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-echo-target"), Some("/after-key-update"));

    // Half a record, a pause past the hot window, then the rest.
    let before = parked(&gw);
    wait_parked(&gw, before, 1);
    c.send_split(
        b"GET /split HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_millis(80),
    )
    .unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-echo-target"), Some("/split"));
    assert_eq!(gw.shard_stats()[0].accepted, 1);
}

fn an_expired_parked_connection_ends_with_close_notify(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, &origin, &cert, "300ms");
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    let before = parked(&gw);
    assert_eq!(c.get("localhost", "/once").unwrap().status, 200);
    wait_parked(&gw, before, 1);
    let (rest, clean) = c.read_to_close().unwrap();
    assert!(rest.is_empty(), "nothing but the close: {rest:?}");
    assert!(
        clean,
        "a parked TLS connection past keepalive ends with close_notify"
    );
    assert!(
        wait_until(Duration::from_secs(2), || gw.shard_stats()[0].active == 0),
        "{:?}",
        gw.shard_stats()
    );
}

each_driver!(
    idle_tls_connections_park_and_resume,
    a_resumed_session_carries_pipelining_bodies_and_key_updates,
    an_expired_parked_connection_ends_with_close_notify,
);
