//! The admin listener: concurrent connections (a slow client never holds up a
//! probe), a cap on them, HTTP semantics (HEAD, 405 + allow), and binding to
//! the unspecified address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shardgate_testkit::{refuses, wait_until, Client, Gateway};

const CFG: &str = r#"
[admin]
address = "${ADMIN}"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
respond = { status = 200, body = "hi" }
"#;

fn start(admin: &str) -> (Gateway, SocketAddr) {
    let gw = Gateway::builder(CFG).var("ADMIN", admin).start().unwrap();
    let port = gw.admin().unwrap().port();
    (gw, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn get(admin: SocketAddr, path: &str) -> shardgate_testkit::Response {
    Client::connect(admin).unwrap().get("admin", path).unwrap()
}

/// The metric's value summed over its samples, 0 when absent.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn silent_and_half_sent_clients_do_not_delay_a_health_probe() {
    let (_gw, admin) = start("127.0.0.1:0");
    let mut silent = Client::connect(admin).unwrap();
    let mut half = Client::connect(admin).unwrap();
    half.send(b"GET /healthz HTTP/1.1\r\nHost: a\r\n").unwrap();
    // Let the server pick both up before the probe.
    std::thread::sleep(Duration::from_millis(50));

    let started = Instant::now();
    let probe = get(admin, "/healthz");
    let took = started.elapsed();
    assert_eq!((probe.status, probe.body_str().as_str()), (200, "ok\n"));
    assert!(took < Duration::from_millis(200), "probe took {took:?}");
    // Both slow clients are still connected while the probe was answered …
    silent.expect_silence(Duration::from_millis(20)).unwrap();
    half.expect_silence(Duration::from_millis(20)).unwrap();
    // … and are answered 408 once their head deadline (2 s) passes.
    for c in [&mut silent, &mut half] {
        c.set_timeout(Duration::from_secs(4)).unwrap();
        let r = c.response().unwrap();
        assert_eq!(r.status, 408);
        assert!(r.closes());
    }
}

#[test]
fn head_gets_the_get_headers_and_no_body() {
    let (_gw, admin) = start("127.0.0.1:0");
    let mut c = Client::connect(admin).unwrap();
    let r = c
        .request(b"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let len: usize = r.header("content-length").unwrap().parse().unwrap();
    assert!(len > 0, "the GET body's length, not 0");
    assert_eq!(c.read_to_close().unwrap(), b"", "a body after a HEAD head");

    // Where the body cannot change between requests, the lengths match exactly.
    let mut c = Client::connect(admin).unwrap();
    let r = c
        .request(b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let got = get(admin, "/healthz");
    assert_eq!(r.status, got.status);
    assert_eq!(
        r.header("content-length").unwrap(),
        got.body.len().to_string()
    );
    assert_eq!(r.header("content-type"), got.header("content-type"));
    assert_eq!(c.read_to_close().unwrap(), b"");
}

#[test]
fn other_methods_get_405_with_allow() {
    let (_gw, admin) = start("127.0.0.1:0");
    for req in [
        &b"POST /healthz HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n"[..],
        b"DELETE /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let r = Client::connect(admin).unwrap().request(req).unwrap();
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    assert_eq!(get(admin, "/nope").status, 404);
    assert_eq!(get(admin, "/ready").status, 200);
    assert_eq!(get(admin, "/config/generation").body_str(), "1\n");
}

#[test]
fn metrics_have_the_prometheus_content_type_and_help_lines() {
    let (_gw, admin) = start("127.0.0.1:0");
    let r = get(admin, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.body_str();
    assert!(
        text.contains("# HELP shardgate_connections_accepted_total ")
            && text.contains("# TYPE shardgate_connections_accepted_total counter"),
        "{text}"
    );
}

#[test]
fn admin_on_the_unspecified_address_answers_on_loopback_and_stops() {
    let (mut gw, admin) = start("0.0.0.0:0");
    assert!(gw.admin().unwrap().ip().is_unspecified());
    assert_eq!(get(admin, "/healthz").status, 200);
    let started = Instant::now();
    gw.stop();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the stop waited {:?} for the admin thread",
        started.elapsed()
    );
    assert!(refuses(admin), "the admin listener is still open");
}

#[test]
fn connections_over_the_cap_are_closed_at_once_and_counted() {
    let (_gw, admin) = start("127.0.0.1:0");
    let before = metric(
        &get(admin, "/metrics").body_str(),
        "shardgate_admin_rejected_total",
    );
    let mut held: Vec<Client> = (0..32).map(|_| Client::connect(admin).unwrap()).collect();
    // Every held connection is being served (silent, so it waits for a head).
    std::thread::sleep(Duration::from_millis(100));
    let mut over = Client::connect(admin).unwrap();
    over.wait_closed(Duration::from_millis(500)).unwrap();
    // Giving the slots back (the clients leave) lets probes in again.
    held.clear();
    assert!(
        wait_until(Duration::from_secs(2), || Client::connect(admin)
            .and_then(|mut c| c.get("admin", "/healthz"))
            .is_ok_and(|r| r.status == 200)),
        "the slots were not given back"
    );
    let after = metric(
        &get(admin, "/metrics").body_str(),
        "shardgate_admin_rejected_total",
    );
    assert!(after > before, "rejected {before} -> {after}");
}
