//! `max_in_flight` per shard (`[server.limits]`) and per route (over all
//! shards): N held requests pass, the next one gets 503 at once and is
//! counted as shed with its reason; released, requests are accepted again.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{each_driver, handlers, wait_until, Client, Driver, Gate, Gateway, Origin};

/// GET `path` on a new connection, from a thread: the status (0 when the
/// connection failed) and how long it took.
fn get_in_thread(addr: SocketAddr, path: &'static str) -> thread::JoinHandle<(u16, Duration)> {
    thread::spawn(move || {
        let t0 = Instant::now();
        let status = Client::connect(addr)
            .and_then(|mut c| {
                // Held requests wait for the test's gate: longer than the
                // client's default 5 s on a busy machine.
                c.set_timeout(Duration::from_secs(60))?;
                c.get("x", path)
            })
            .map_or(0, |r| r.status);
        (status, t0.elapsed())
    })
}

fn shed(admin: SocketAddr, route: &str, reason: &str) -> f64 {
    scrape_sum(
        admin,
        "shardgate_requests_shed_total",
        &[("route", route), ("reason", reason)],
    )
}

/// The shed count reaches `n` (it is counted in the log phase, just after
/// the answer went out) and stays there.
#[track_caller]
fn assert_shed(admin: SocketAddr, route: &str, reason: &str, n: f64) {
    wait_until(Duration::from_secs(10), || shed(admin, route, reason) >= n);
    assert_eq!(shed(admin, route, reason), n, "{route} {reason}");
}

fn a_shard_serves_at_most_max_in_flight(driver: Driver) {
    let gate = Gate::new();
    let origin = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"ok"),
    ))
    .unwrap();
    let route = format!("shardcap_{driver}");
    let config = format!(
        r#"
[server.limits]
max_in_flight = 3

[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "{route}"
path_prefix = "/held"
proxy = "up"

[[route]]
name = "{route}_static"
path_prefix = "/static"
respond = {{ status = 200, body = "here" }}

[[upstream]]
name = "up"
servers = ["${{UP}}"]
"#
    );
    let gw = Gateway::builder(&config)
        .var("UP", origin.addr())
        .driver(driver)
        .shards(1)
        .start()
        .unwrap();
    let addr = gw.addr("public");
    let admin = gw.admin().unwrap();
    let held: Vec<_> = (0..3).map(|_| get_in_thread(addr, "/held")).collect();
    assert!(origin.wait_requests(3, Duration::from_secs(5)));
    // (`shardgate_shard_in_flight{shard="0"}` is not asserted: the tests of
    // this binary share one recorder, and every gateway has a shard 0.)
    // The fourth, proxied or answered by the gateway itself, is refused at
    // once: the cap is the shard's, whatever the route.
    // Both on one keep-alive connection: a refusal is a complete answer
    // about this request only, so the connection stays open.
    let mut kept = Client::connect(addr).unwrap();
    for (path, name) in [
        ("/held", route.clone()),
        ("/static", format!("{route}_static")),
    ] {
        let t0 = Instant::now();
        let r = kept.get("x", path).unwrap();
        assert_eq!(r.status, 503, "{path}");
        assert!(!r.closes(), "{path}: the refusal closed the connection");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "{path}: {:?}",
            t0.elapsed()
        );
        assert_shed(admin, &name, "shard_in_flight", 1.0);
    }
    assert_eq!(origin.requests(), 3, "nothing more reached the origin");
    gate.open();
    for t in held {
        let (status, took) = t.join().unwrap();
        assert_eq!(status, 200, "a held request, after {took:?}");
    }
    // Released: accepted again, on the refused client's connection too.
    for path in ["/held", "/static", "/held"] {
        assert_eq!(get_in_thread(addr, path).join().unwrap().0, 200, "{path}");
    }
    assert_eq!(kept.get("x", "/held").unwrap().status, 200);
    assert_shed(admin, &route, "shard_in_flight", 1.0);
    assert!(
        wait_until(Duration::from_secs(10), || scrape_sum(
            admin,
            "shardgate_route_in_flight",
            &[("route", &route)]
        ) == 0.0),
        "the route's gauge comes back to 0"
    );
}

fn a_route_serves_at_most_max_in_flight_over_all_shards(driver: Driver) {
    let gate = Gate::new();
    let origin = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"ok"),
    ))
    .unwrap();
    let capped = format!("routecap_{driver}");
    let free = format!("routefree_{driver}");
    let config = format!(
        r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "{capped}"
path_prefix = "/capped"
proxy = "up"
max_in_flight = 2

[[route]]
name = "{free}"
path_prefix = "/free"
respond = {{ status = 200, body = "free" }}

[[upstream]]
name = "up"
servers = ["${{UP}}"]
"#
    );
    let gw = Gateway::builder(&config)
        .var("UP", origin.addr())
        .driver(driver)
        .shards(2)
        .start()
        .unwrap();
    let addr = gw.addr("public");
    let admin = gw.admin().unwrap();
    let held: Vec<_> = (0..2).map(|_| get_in_thread(addr, "/capped")).collect();
    assert!(origin.wait_requests(2, Duration::from_secs(5)));
    // Six more, each on its own connection (so on either shard): every one
    // is refused, the cap counts both shards' requests.
    let more: Vec<_> = (0..6).map(|_| get_in_thread(addr, "/capped")).collect();
    for t in more {
        let (status, took) = t.join().unwrap();
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    assert_shed(admin, &capped, "route_in_flight", 6.0);
    assert_eq!(origin.requests(), 2);
    // Another route is not affected.
    assert_eq!(get_in_thread(addr, "/free").join().unwrap().0, 200);
    assert!(
        wait_until(Duration::from_secs(10), || scrape_sum(
            admin,
            "shardgate_route_in_flight",
            &[("route", &capped)]
        ) == 2.0),
        "the per-shard gauges add up to the two held"
    );
    gate.open();
    for t in held {
        let (status, took) = t.join().unwrap();
        assert_eq!(status, 200, "a held request, after {took:?}");
    }
    for _ in 0..4 {
        assert_eq!(get_in_thread(addr, "/capped").join().unwrap().0, 200);
    }
    assert_shed(admin, &capped, "route_in_flight", 6.0);
}

each_driver!(
    a_shard_serves_at_most_max_in_flight,
    a_route_serves_at_most_max_in_flight_over_all_shards
);
