//! Passive outlier detection on real sockets: failures in a row eject a
//! server, it gets no traffic for `base_ejection_time`, comes back, and a
//! second ejection lasts twice as long; `max_ejection_percent` caps how many
//! are out; failures count process-wide (two shards add up to one count);
//! and the panic threshold keeps every server in use when all of them fail.

mod health_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use health_support::*;
use shardgate_testkit::{
    closed_addr, each_driver, handlers, metrics, wait_until, Client, Driver, Gateway, Origin,
};

const OUTLIER: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "${U}"

[[upstream]]
name = "${U}"
servers = [${SERVERS}]
[upstream.outlier]
consecutive_failures = ${N}
on_5xx = ${ON_5XX}
base_ejection_time = "${BASE}"
max_ejection_time = "60s"
max_ejection_percent = ${PCT}
panic_threshold = ${PANIC}
"#;

const SECS5: Duration = Duration::from_secs(5);

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Setup<'a> {
    upstream: &'a str,
    servers: &'a [SocketAddr],
    failures: u32,
    on_5xx: bool,
    base: &'a str,
    percent: u8,
    panic: u8,
}

fn gateway(driver: Driver, shards: usize, s: &Setup<'_>) -> Gateway {
    Gateway::builder(OUTLIER)
        .var("U", s.upstream)
        .var("SERVERS", list(s.servers))
        .var("N", s.failures)
        .var("ON_5XX", s.on_5xx)
        .var("BASE", s.base)
        .var("PCT", s.percent)
        .var("PANIC", s.panic)
        .driver(driver)
        .shards(shards)
        .start()
        .unwrap()
}

/// Sends requests one after the other until `n` of them were answered by
/// the server whose body is `who`; when the last of those arrived.
fn until_answers(c: &mut Client, who: &str, n: usize, others: &mut usize) -> Instant {
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "{who} never answered {n} times");
        let r = c.get("a", "/").unwrap();
        if r.body_str() == who {
            seen += 1;
            if seen == n {
                return Instant::now();
            }
        } else {
            assert_eq!((r.status, r.body_str().as_str()), (200, "b"));
            *others += 1;
        }
    }
}

fn ejection_timeline_grows_with_repeated_ejections(driver: Driver) {
    let u = format!("timeline-{driver}");
    let sa = Switch::new();
    sa.set_traffic(500);
    let a = Origin::start(sa.handler("a")).unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let gw = gateway(
        driver,
        1,
        &Setup {
            upstream: &u,
            servers: &[a.addr(), b.addr()],
            failures: 3,
            on_5xx: true,
            base: "1s",
            percent: 50,
            panic: 50,
        },
    );
    let admin = gw.admin().unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let mut others = 0;
    // Three 500s from A in a row (B's answers in between are B's): ejected.
    let ejected = until_answers(&mut c, "a", 3, &mut others);
    let s = server(&upstreams(admin), &u, a.addr());
    assert_eq!(
        (s["outlier"]["ejected"].as_bool(), s["healthy"].as_bool()),
        (Some(true), Some(false)),
        "{s}"
    );
    assert!(
        s["outlier"]["ejected_for_ms"].as_u64().unwrap() <= 1000,
        "{s}"
    );
    assert_eq!(s["outlier"]["ejections"], 1);
    // The connection that brought the ejecting 500 drained: closed, not pooled.
    assert!(
        wait_until(Duration::from_millis(500), || a.open_connections() == 0),
        "A's connection stayed open after its ejection"
    );
    // No traffic to A for base_ejection_time, then A again.
    let before = a.requests();
    others = 0;
    let back = until_answers(&mut c, "a", 1, &mut others);
    let gap = back - ejected;
    assert!(gap >= Duration::from_millis(950), "back after {gap:?}");
    assert!(gap < Duration::from_secs(3), "back after {gap:?}");
    assert!(
        others > 10,
        "B took the traffic meanwhile ({others} requests)"
    );
    assert_eq!(a.requests(), before + 1);
    // Still failing: three more in a row, ejected again, twice as long.
    let ejected = until_answers(&mut c, "a", 2, &mut others);
    let back = until_answers(&mut c, "a", 1, &mut others);
    let gap2 = back - ejected;
    assert!(
        gap2 >= Duration::from_millis(1950),
        "second ejection lasted {gap2:?}"
    );
    assert!(
        gap2 < Duration::from_secs(4),
        "second ejection lasted {gap2:?}"
    );
    assert_eq!(
        server(&upstreams(admin), &u, a.addr())["outlier"]["ejections"],
        2
    );
    // Both ejections and both returns counted once each (returns are
    // reported by the health thread's sweep, within its tick).
    let t = "shardgate_upstream_health_transitions_total";
    let count = |to| server_metric(admin, t, &u, a.addr(), &[("kind", "outlier"), ("to", to)]);
    assert!(
        wait_until(SECS5, || count("returned") == 2.0),
        "{}",
        count("returned")
    );
    assert_eq!(count("ejected"), 2.0);
    assert_eq!(
        server_metric(
            admin,
            t,
            &u,
            b.addr(),
            &[("kind", "outlier"), ("to", "ejected")]
        ),
        0.0
    );
}

fn max_ejection_percent_is_respected(driver: Driver) {
    let u = format!("percent-{driver}");
    let failing: Vec<Origin> = ["x", "y", "z"]
        .iter()
        .map(|_| Origin::start(handlers::fixed(500, &[], b"bad")).unwrap())
        .collect();
    let d = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let mut addrs: Vec<SocketAddr> = failing.iter().map(Origin::addr).collect();
    addrs.push(d.addr());
    let gw = gateway(
        driver,
        1,
        &Setup {
            upstream: &u,
            servers: &addrs,
            failures: 1,
            on_5xx: true,
            base: "30s",
            percent: 50,
            panic: 0,
        },
    );
    let admin = gw.admin().unwrap();
    get_many(gw.addr("public"), 12);
    let doc = upstreams(admin);
    let ejected: Vec<bool> = addrs
        .iter()
        .map(|a| {
            server(&doc, &u, *a)["outlier"]["ejected"]
                .as_bool()
                .unwrap()
        })
        .collect();
    assert_eq!(ejected.iter().filter(|e| **e).count(), 2, "{doc}");
    assert!(!ejected[3], "the good server was ejected: {doc}");
    // The failing server that stayed in keeps its traffic and its count.
    let kept = (0..3).find(|&i| !ejected[i]).unwrap();
    let s = server(&doc, &u, addrs[kept]);
    assert!(
        s["outlier"]["consecutive_failures"].as_u64().unwrap() >= 2,
        "{s}"
    );
    let before = failing[kept].requests();
    get_many(gw.addr("public"), 6);
    assert!(failing[kept].requests() >= before + 2);
    assert_eq!(upstream(&upstreams(admin), &u)["healthy"], 2);
}

fn failures_of_all_shards_add_up(driver: Driver) {
    let u = format!("shards-{driver}");
    let dead = closed_addr().unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let gw = gateway(
        driver,
        2,
        &Setup {
            upstream: &u,
            servers: &[dead, b.addr()],
            failures: 4,
            on_5xx: false,
            base: "30s",
            percent: 50,
            panic: 50,
        },
    );
    let admin = gw.admin().unwrap();
    // Many connections, so both shards get some: each tries the dead
    // server first, then backs off from it.
    let mut clients: Vec<Client> = (0..16)
        .map(|_| Client::connect(gw.addr("public")).unwrap())
        .collect();
    let ejected = wait_until(SECS5, || {
        for c in &mut clients {
            let r = c.get("a", "/").unwrap();
            assert_eq!((r.status, r.body_str().as_str()), (200, "b"));
        }
        server(&upstreams(admin), &u, dead)["outlier"]["ejected"] == true
    });
    assert!(ejected, "never ejected");
    let text = metrics::scrape(admin).unwrap();
    let errors = |shard| {
        metrics::sum(
            &text,
            "shardgate_upstream_connect_errors_total",
            &[("upstream", u.as_str()), ("shard", shard)],
        )
        .0
    };
    let (e0, e1) = (errors("0"), errors("1"));
    assert!(e0 > 0.0 && e1 > 0.0, "one shard alone: {e0} + {e1}");
    assert_eq!(e0 + e1, 4.0, "ejected at 4 failures counted across shards");
    // Each shard's own backoff shows in its published figures.
    let s = wait_server(admin, &u, dead, SECS5, |s| {
        s["shards"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["backoff_failures"].as_u64() >= Some(1))
    });
    assert_eq!(s["outlier"]["ejections"], 1);
}

fn panic_threshold_keeps_every_server_in_use(driver: Driver) {
    for panic in [50u8, 0] {
        let u = format!("panic-{panic}-{driver}");
        let origins: Vec<Origin> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let body = format!("origin {name}");
                Origin::start(handlers::fixed(503, &[], body.as_bytes())).unwrap()
            })
            .collect();
        let addrs: Vec<SocketAddr> = origins.iter().map(Origin::addr).collect();
        let gw = gateway(
            driver,
            1,
            &Setup {
                upstream: &u,
                servers: &addrs,
                failures: 1,
                on_5xx: true,
                base: "30s",
                percent: 100,
                panic,
            },
        );
        let admin = gw.admin().unwrap();
        // One request each: every server ejected.
        let first = get_many(gw.addr("public"), 3);
        assert!(
            first
                .iter()
                .all(|(st, b)| *st == 503 && b.starts_with("origin")),
            "{first:?}"
        );
        assert_eq!(upstream(&upstreams(admin), &u)["healthy"], 0);
        let answers = get_many(gw.addr("public"), 9);
        let counts: Vec<usize> = origins.iter().map(Origin::requests).collect();
        if panic > 0 {
            // In panic: still balanced over all of them, answered by them.
            assert!(
                answers
                    .iter()
                    .all(|(st, b)| *st == 503 && b.starts_with("origin")),
                "{answers:?}"
            );
            assert!(counts.iter().all(|&n| n >= 3), "{counts:?}");
            assert_eq!(upstream(&upstreams(admin), &u)["panic"], true);
            let picks = metrics::scrape_sum(
                admin,
                "shardgate_upstream_panic_picks_total",
                &[("upstream", u.as_str())],
            );
            assert!(picks >= 9.0, "{picks}");
            let gauge = || {
                metrics::scrape_sum(
                    admin,
                    "shardgate_upstream_panic",
                    &[("upstream", u.as_str())],
                )
            };
            assert!(wait_until(SECS5, || gauge() == 1.0));
            let entered = metrics::scrape_sum(
                admin,
                "shardgate_upstream_panic_transitions_total",
                &[("upstream", u.as_str()), ("to", "entered")],
            );
            assert_eq!(entered, 1.0);
        } else {
            // Panic off: 503 from the gateway without trying anyone.
            assert!(
                answers
                    .iter()
                    .all(|(st, b)| *st == 503 && !b.starts_with("origin")),
                "{answers:?}"
            );
            assert_eq!(counts, [1, 1, 1]);
            assert_eq!(upstream(&upstreams(admin), &u)["panic"], false);
        }
    }
}

each_driver!(
    ejection_timeline_grows_with_repeated_ejections,
    max_ejection_percent_is_respected,
    failures_of_all_shards_add_up,
    panic_threshold_keeps_every_server_in_use
);
