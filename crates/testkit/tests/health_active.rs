//! Active health checks on real sockets: an HTTP check takes a server out
//! after `unhealthy_threshold` failed probes in a row and brings it back
//! after `healthy_threshold` passed ones (never earlier), a TCP check follows
//! an origin that goes away and comes back, traffic avoids a server while it
//! is down, and probes are sent once per process, not once per shard.

mod health_support;

use std::time::{Duration, Instant};

use health_support::*;
use shardgate_testkit::origin::faults::Flapping;
use shardgate_testkit::{each_driver, handlers, metrics, wait_until, Driver, Gateway, Origin};

const HTTP_CHECK: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "${U}"

[[upstream]]
name = "${U}"
servers = ["${A}", "${B}"]
[upstream.health_check]
kind = "http"
path = "/health"
interval = "200ms"
jitter = 0
timeout = "150ms"
healthy_threshold = 2
unhealthy_threshold = 3
[upstream.outlier]
consecutive_failures = 0
"#;

const SECS5: Duration = Duration::from_secs(5);

fn http_check_takes_a_server_out_and_back_after_its_thresholds(driver: Driver) {
    let u = format!("http-check-{driver}");
    let (sa, sb) = (Switch::new(), Switch::new());
    let a = Origin::start(sa.handler("a")).unwrap();
    let b = Origin::start(sb.handler("b")).unwrap();
    let gw = Gateway::builder(HTTP_CHECK)
        .var("U", &u)
        .var("A", a.addr())
        .var("B", b.addr())
        .driver(driver)
        .start()
        .unwrap();
    let (admin, public) = (gw.admin().unwrap(), gw.addr("public"));
    // Up from the start; the first probe passes.
    let s = wait_server(admin, &u, a.addr(), SECS5, |s| {
        s["active"]["last_probe"] == "passed"
    });
    assert_eq!(s["active"]["state"], "up");
    let bodies: Vec<String> = get_many(public, 4).into_iter().map(|r| r.1).collect();
    assert!(
        bodies.contains(&"a".into()) && bodies.contains(&"b".into()),
        "{bodies:?}"
    );

    // A's check fails: down only once 3 probes in a row failed.
    let bad0 = sa.bad();
    sa.set_health(500);
    let mut up_while_failing = false;
    let went_down = wait_until(SECS5, || {
        let s = server(&upstreams(admin), &u, a.addr());
        let failed = s["active"]["failed_in_row"].as_u64().unwrap();
        if s["active"]["state"] == "down" {
            assert!(failed >= 3, "down after {failed} failed probes: {s}");
            assert!(
                sa.bad() - bad0 >= 3,
                "down before the origin failed 3 probes"
            );
            return true;
        }
        up_while_failing |= failed >= 1;
        false
    });
    assert!(went_down, "never marked down");
    // Its pooled connections drain: closed within the shard's 1 s tick
    // (a probe's own short connection may be open for a moment).
    assert!(
        wait_until(Duration::from_secs(3), || a.open_connections() == 0),
        "A's pooled connections stayed open while it was down"
    );
    assert!(
        up_while_failing,
        "no look at the server while it failed but was still up"
    );
    assert_eq!(server(&upstreams(admin), &u, a.addr())["healthy"], false);
    // While down, every request goes to B.
    let answers = get_many(public, 8);
    assert!(
        answers.iter().all(|(st, body)| *st == 200 && body == "b"),
        "{answers:?}"
    );

    // A passes again: up only once 2 probes in a row passed.
    let ok0 = sa.ok();
    sa.set_health(200);
    let came_up = wait_until(SECS5, || {
        let s = server(&upstreams(admin), &u, a.addr());
        if s["active"]["state"] == "up" {
            let passed = s["active"]["passed_in_row"].as_u64().unwrap();
            assert!(passed >= 2, "up after {passed} passed probes: {s}");
            assert!(sa.ok() - ok0 >= 2, "up before the origin passed 2 probes");
            return true;
        }
        false
    });
    assert!(came_up, "never marked up again");
    let bodies: Vec<String> = get_many(public, 4).into_iter().map(|r| r.1).collect();
    assert!(bodies.contains(&"a".into()), "{bodies:?}");

    // Each change counted once, and the gauge follows.
    let t = "shardgate_upstream_health_transitions_total";
    let count = |to| server_metric(admin, t, &u, a.addr(), &[("kind", "active"), ("to", to)]);
    assert_eq!((count("down"), count("up")), (1.0, 1.0));
    let g = server_metric(
        admin,
        "shardgate_upstream_active_healthy",
        &u,
        a.addr(),
        &[],
    );
    assert_eq!(g, 1.0);
    let failed = server_metric(
        admin,
        "shardgate_upstream_health_probes_total",
        &u,
        a.addr(),
        &[("result", "failed")],
    );
    assert!(failed >= 3.0, "{failed}");
    assert_eq!(
        server_metric(
            admin,
            t,
            &u,
            b.addr(),
            &[("kind", "active"), ("to", "down")]
        ),
        0.0
    );
}

const TCP_CHECK: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "${U}"

[[upstream]]
name = "${U}"
servers = ["${A}", "${B}"]
[upstream.health_check]
interval = "200ms"
jitter = 0
timeout = "150ms"
healthy_threshold = 2
unhealthy_threshold = 2
[upstream.outlier]
consecutive_failures = 0
"#;

fn tcp_check_follows_a_flapping_origin(driver: Driver) {
    let u = format!("tcp-check-{driver}");
    let mut a = Flapping::start(handlers::fixed(200, &[], b"a")).unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let gw = Gateway::builder(TCP_CHECK)
        .var("U", &u)
        .var("A", a.addr())
        .var("B", b.addr())
        .driver(driver)
        .start()
        .unwrap();
    let (admin, public) = (gw.admin().unwrap(), gw.addr("public"));
    wait_server(admin, &u, a.addr(), SECS5, |s| {
        s["active"]["last_probe"] == "passed"
    });
    a.down();
    let s = wait_server(admin, &u, a.addr(), SECS5, |s| {
        s["active"]["state"] == "down"
    });
    assert!(s["active"]["failed_in_row"].as_u64().unwrap() >= 2, "{s}");
    // Down: not even a connect is tried.
    let errors = |admin| {
        metrics::scrape_sum(
            admin,
            "shardgate_upstream_connect_errors_total",
            &[("upstream", u.as_str())],
        )
    };
    let errors0 = errors(admin);
    let answers = get_many(public, 8);
    assert!(
        answers.iter().all(|(st, body)| *st == 200 && body == "b"),
        "{answers:?}"
    );
    assert_eq!(
        errors(admin),
        errors0,
        "a connect to the down server was tried"
    );

    a.up().unwrap();
    let s = wait_server(admin, &u, a.addr(), SECS5, |s| s["active"]["state"] == "up");
    assert!(s["active"]["passed_in_row"].as_u64().unwrap() >= 2, "{s}");
    let answers = get_many(public, 6);
    assert!(answers.iter().any(|(_, body)| body == "a"), "{answers:?}");
    assert!(a.origin().unwrap().requests() > 0);
}

each_driver!(
    http_check_takes_a_server_out_and_back_after_its_thresholds,
    tcp_check_follows_a_flapping_origin
);

const ONE_SERVER: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "once"

[[upstream]]
name = "once"
servers = ["${A}"]
[upstream.health_check]
kind = "http"
path = "/health/deep"
interval = "200ms"
jitter = 0
timeout = "150ms"
"#;

/// Two shards, one probe per interval: the health thread probes for the
/// process. Probing per shard would double the rate.
#[test]
fn probes_are_sent_once_per_process_not_per_shard() {
    let sa = Switch::new();
    let a = Origin::start(sa.handler("a")).unwrap();
    let _gw = Gateway::builder(ONE_SERVER)
        .var("A", a.addr())
        .shards(2)
        .start()
        .unwrap();
    assert!(wait_until(SECS5, || probes(&a.received()) >= 1));
    let (c1, t1) = (probes(&a.received()), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (c2, t2) = (probes(&a.received()), Instant::now());
    let intervals = t2.duration_since(t1).as_secs_f64() / 0.2;
    let per_interval = (c2 - c1) as f64 / intervals;
    assert!(
        (0.6..=1.4).contains(&per_interval),
        "{} probes in {intervals:.1} intervals",
        c2 - c1
    );
    // What a probe looks like on the wire.
    let req = a.received().into_iter().next().unwrap();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("GET", "/health/deep")
    );
    assert_eq!(req.header("host"), Some(a.addr().to_string().as_str()));
    assert_eq!(req.header("user-agent"), Some("shardgate-health-check"));
    assert_eq!(req.header("connection"), Some("close"));
    // Each probe on its own connection, closed after the answer.
    assert!(wait_until(SECS5, || a.open_connections() <= 1));
    assert!(a.connections() >= c2);
}

const SLOW_CHECK: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "slow"

[[upstream]]
name = "slow"
servers = ["${A}"]
[upstream.health_check]
kind = "http"
path = "/health"
interval = "${INTERVAL}"
timeout = "150ms"
healthy_threshold = 1
unhealthy_threshold = 1
"#;

/// A reload that changes a kept server's check applies it at once: an
/// interval shortened from an hour does not wait out the hour.
#[test]
fn a_reloaded_check_applies_at_once() {
    let sa = Switch::new();
    sa.set_health(500);
    let a = Origin::start(sa.handler("a")).unwrap();
    let gw = Gateway::builder(&SLOW_CHECK.replace("${INTERVAL}", "1h"))
        .var("A", a.addr())
        .start()
        .unwrap();
    // The first probe is sent at once; the next would be in an hour.
    assert!(wait_until(SECS5, || sa.bad() == 1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(probes(&a.received()), 1);
    sa.set_health(200);
    gw.reload(&SLOW_CHECK.replace("${INTERVAL}", "200ms"))
        .unwrap();
    let applied = wait_until(SECS5, || sa.ok() >= 2);
    assert!(
        applied,
        "the new interval did not apply: {} ok, {} bad, generation {}",
        sa.ok(),
        sa.bad(),
        gw.server().generation()
    );
}
