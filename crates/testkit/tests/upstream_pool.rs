//! The per-server connection pool: `max_conns_per_host` with a bounded queue
//! of waiters (`max_pending`, `pending_timeout`), connections the origin
//! closes never pooled (`Draining`), and the process-wide pool metrics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{
    each_driver, handler, handlers, wait_until, After, Client, Driver, Gate, Gateway, Origin,
};

/// The upstream is named after the test and driver: the halves run in one
/// process and share its metrics recorder.
fn gateway(driver: Driver, name: &str, origin: &Origin, pool: &str, shards: usize) -> Gateway {
    let config = format!(
        r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "{name}_{driver}"

[[upstream]]
name = "{name}_{driver}"
servers = ["${{UP}}"]
[upstream.pool]
{pool}
"#
    );
    Gateway::builder(&config)
        .var("UP", origin.addr())
        .driver(driver)
        .shards(shards)
        .start()
        .unwrap()
}

/// Sends GET `path` on a new connection and returns the status (0 when the
/// connection failed), from a thread.
fn get_in_thread(gw: &Gateway, path: &'static str) -> thread::JoinHandle<(u16, Duration)> {
    let addr = gw.addr("public");
    thread::spawn(move || {
        let t0 = Instant::now();
        let status = Client::connect(addr)
            .and_then(|mut c| c.get("x", path))
            .map_or(0, |r| r.status);
        (status, t0.elapsed())
    })
}

/// Holds every request at `gate`, then answers `response` and does `after`.
/// Also counts the requests the origin holds unanswered at once (the highest
/// value seen). The count drops *before* the answer is written: the gateway
/// can send its next request as soon as it has read this answer, and counting
/// until the handler returns would see that next request overlap this one
/// (the race that once made the close test see 2 with one connection allowed).
fn held_and_counted(
    gate: Gate,
    response: Vec<u8>,
    after: After,
) -> (shardgate_testkit::Handler, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let p = peak.clone();
    let h = handler(move |_, r| {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(n, Ordering::SeqCst);
        let opened = gate.wait(Duration::from_secs(30));
        now.fetch_sub(1, Ordering::SeqCst);
        if !opened {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "gate never opened",
            ));
        }
        r.write(&response)?;
        Ok(after)
    });
    (h, peak)
}

fn waiters_get_released_connections_and_the_queue_is_bounded(driver: Driver) {
    let gate = Gate::new();
    let (h, peak) = held_and_counted(
        gate.clone(),
        handlers::response_bytes(200, &[], b"ok"),
        After::KeepAlive,
    );
    let origin = Origin::start(h).unwrap();
    let gw = gateway(
        driver,
        "bounded",
        &origin,
        "max_conns_per_host = 2\nmax_pending = 2\npending_timeout = \"10s\"",
        1,
    );
    // Two requests take both connections; two more wait.
    let held: Vec<_> = (0..4).map(|_| get_in_thread(&gw, "/held")).collect();
    assert!(origin.wait_requests(2, Duration::from_secs(5)));
    let admin = gw.admin().unwrap();
    let up = format!("bounded_{driver}");
    assert!(
        wait_until(Duration::from_secs(5), || scrape_sum(
            admin,
            "shardgate_upstream_pending_requests",
            &[("upstream", &up)]
        ) == 2.0),
        "two requests wait"
    );
    // The queue is full: the fifth is refused at once, not after a timeout.
    let (status, took) = get_in_thread(&gw, "/fifth").join().unwrap();
    assert_eq!(status, 503);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(
        scrape_sum(
            admin,
            "shardgate_upstream_pending_rejected_total",
            &[("upstream", &up)]
        ),
        1.0
    );
    gate.open();
    for t in held {
        assert_eq!(t.join().unwrap().0, 200);
    }
    // The waiters were handed the released connections: two in all, never
    // more than two at once.
    assert_eq!(origin.requests(), 4);
    assert_eq!(origin.connections(), 2);
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert_eq!(
        scrape_sum(
            admin,
            "shardgate_upstream_pending_requests",
            &[("upstream", &up)]
        ),
        0.0
    );
}

fn a_wait_ends_in_503_after_pending_timeout(driver: Driver) {
    let gate = Gate::new();
    let origin = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"ok"),
    ))
    .unwrap();
    let gw = gateway(
        driver,
        "timeout",
        &origin,
        "max_conns_per_host = 1\nmax_pending = 8\npending_timeout = \"400ms\"",
        1,
    );
    let first = get_in_thread(&gw, "/held");
    assert!(origin.wait_requests(1, Duration::from_secs(5)));
    let (status, took) = get_in_thread(&gw, "/waits").join().unwrap();
    assert_eq!(status, 503);
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        scrape_sum(
            gw.admin().unwrap(),
            "shardgate_upstream_pending_timeouts_total",
            &[("upstream", &format!("timeout_{driver}"))]
        ),
        1.0
    );
    // The waiter never reached the origin; the held request still completes.
    gate.open();
    assert_eq!(first.join().unwrap().0, 200);
    assert_eq!(origin.requests(), 1);
}

fn a_closed_connection_becomes_a_permit_for_the_next_waiter(driver: Driver) {
    // The origin closes after every answer: a waiter cannot be handed the
    // connection, it gets the freed slot and opens its own.
    let gate = Gate::new();
    let (h, peak) = held_and_counted(
        gate.clone(),
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_vec(),
        After::Close,
    );
    let origin = Origin::start(h).unwrap();
    let gw = gateway(
        driver,
        "permit",
        &origin,
        "max_conns_per_host = 1\nmax_pending = 8\npending_timeout = \"10s\"",
        1,
    );
    let all: Vec<_> = (0..3).map(|_| get_in_thread(&gw, "/q")).collect();
    assert!(origin.wait_requests(1, Duration::from_secs(5)));
    gate.open();
    for t in all {
        assert_eq!(t.join().unwrap().0, 200);
    }
    let seen: Vec<(usize, usize, String)> = origin
        .received()
        .iter()
        .map(|r| (r.conn, r.seq_on_conn, r.target.clone()))
        .collect();
    assert_eq!(
        origin.connections(),
        3,
        "requests (conn, seq, target): {seen:?}"
    );
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}

fn connection_close_from_the_origin_is_never_pooled(driver: Driver) {
    // The origin says `Connection: close` but leaves the socket open: the
    // gateway must close it (Draining → Closed) and never send on it again.
    let origin = Origin::start(handlers::fixed(200, &[("connection", "close")], b"bye")).unwrap();
    let gw = gateway(driver, "close", &origin, "max_idle_per_host = 8", 1);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..3 {
        assert_eq!(c.get("x", "/").unwrap().status, 200);
    }
    assert_eq!(origin.connections(), 3, "one connection per request");
    assert!(
        wait_until(Duration::from_secs(5), || origin.open_connections() == 0),
        "the gateway closed every draining connection"
    );
    assert_eq!(
        origin.received().iter().map(|r| r.seq_on_conn).max(),
        Some(0),
        "nothing was sent on a draining connection"
    );
}

fn pool_metrics_sum_every_shard(driver: Driver) {
    // Two shards, several client connections: the idle connections per
    // server reported without a shard label match what the origin holds
    // open, and reuse is counted.
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, "shards", &origin, "max_idle_per_host = 16", 2);
    let admin = gw.admin().unwrap();
    let server = origin.addr().to_string();
    let gate_barrier = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let addr = gw.addr("public");
            let b = gate_barrier.clone();
            thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                b.wait();
                for _ in 0..10 {
                    assert_eq!(c.get("x", "/").unwrap().status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(origin.requests(), 80);
    let want = [("server", server.as_str()), ("state", "idle")];
    let idle_matches = wait_until(Duration::from_secs(5), || {
        let idle = scrape_sum(admin, "shardgate_upstream_pool_connections", &want);
        idle >= 1.0 && idle == origin.open_connections() as f64
    });
    assert!(
        idle_matches,
        "idle {} vs open at the origin {}",
        scrape_sum(admin, "shardgate_upstream_pool_connections", &want),
        origin.open_connections()
    );
    let opened = scrape_sum(
        admin,
        "shardgate_upstream_pool_opened_total",
        &[("server", server.as_str())],
    );
    let reused = scrape_sum(
        admin,
        "shardgate_upstream_pool_reused_total",
        &[("server", server.as_str())],
    );
    assert_eq!(opened, origin.connections() as f64);
    assert_eq!(opened + reused, 80.0, "every request used one connection");
    assert!(reused >= 64.0, "reused {reused} of 80");
}

each_driver!(
    waiters_get_released_connections_and_the_queue_is_bounded,
    a_wait_ends_in_503_after_pending_timeout,
    a_closed_connection_becomes_a_permit_for_the_next_waiter,
    connection_close_from_the_origin_is_never_pooled,
    pool_metrics_sum_every_shard,
);
