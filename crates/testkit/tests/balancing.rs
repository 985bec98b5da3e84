//! Load balancing over real origins, counted at the origins.

use shardgate_testkit::{each_driver, handlers, Client, Driver, Gateway, Origin};

fn round_robin_splits_evenly(driver: Driver) {
    let a = Origin::start(handlers::fixed(200, &[], b"A")).unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"B")).unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "pair"

[[upstream]]
name = "pair"
lb = "round_robin"
servers = ["${A}", { address = "${B}", weight = 5 }]
"#,
    )
    .var("A", a.addr())
    .var("B", b.addr())
    .driver(driver)
    .start()
    .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let r = c.get("x", "/").unwrap();
        assert_eq!(r.status, 200);
        seen.push(r.body_str());
    }
    // Weights are ignored by round_robin; one shard alternates exactly.
    assert_eq!(a.requests(), 10);
    assert_eq!(b.requests(), 10);
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "{seen:?}");
    // Pooling per server: one connection each.
    assert_eq!((a.connections(), b.connections()), (1, 1));
}

fn weighted_round_robin_splits_three_to_one(driver: Driver) {
    let a = Origin::start(handlers::fixed(200, &[], b"A")).unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"B")).unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "pair"

[[upstream]]
name = "pair"
lb = "weighted_round_robin"
servers = [{ address = "${A}", weight = 3 }, "${B}"]
"#,
    )
    .var("A", a.addr())
    .var("B", b.addr())
    .driver(driver)
    .start()
    .unwrap();
    let mut seen = String::new();
    for _ in 0..40 {
        // New client connections each time: the split is per request.
        let mut c = Client::connect(gw.addr("public")).unwrap();
        seen.push_str(&c.get("x", "/").unwrap().body_str());
    }
    assert_eq!((a.requests(), b.requests()), (30, 10), "{seen}");
    // Smooth WRR interleaves: never more than 3 A in a row.
    assert!(!seen.contains("AAAA"), "{seen}");
}

fn refused_server_is_skipped(driver: Driver) {
    // One of two servers refuses connections: nothing was sent yet, so the
    // gateway tries the other one and no client sees an error.
    let up = Origin::start(handlers::fixed(200, &[], b"up")).unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "pair"

[[upstream]]
name = "pair"
servers = ["${DOWN}", "${UP}"]
"#,
    )
    .var("DOWN", shardgate_testkit::closed_addr().unwrap())
    .var("UP", up.addr())
    .driver(driver)
    .start()
    .unwrap();
    for _ in 0..10 {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c.get("x", "/").unwrap();
        assert_eq!((r.status, r.body_str().as_str()), (200, "up"));
    }
    assert_eq!(up.requests(), 10);
}

fn max_conns_per_host_is_a_hard_limit(driver: Driver) {
    let gate = shardgate_testkit::Gate::new();
    let held = handlers::gated(gate.clone(), handlers::fixed(200, &[], b"held"));
    let quick = handlers::fixed(200, &[], b"quick");
    let origin = Origin::start(shardgate_testkit::handler(move |req, r| {
        if req.target == "/held" {
            held(req, r)
        } else {
            quick(req, r)
        }
    }))
    .unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "one"

[[upstream]]
name = "one"
servers = ["${UP}"]
pool = { max_conns_per_host = 1 }
"#,
    )
    .var("UP", origin.addr())
    .driver(driver)
    .start()
    .unwrap();
    let mut a = Client::connect(gw.addr("public")).unwrap();
    a.send(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(origin.wait_requests(1, std::time::Duration::from_secs(3)));
    // The only allowed connection is busy: no second one is opened.
    let mut b = Client::connect(gw.addr("public")).unwrap();
    let r = b.get("x", "/quick").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(origin.connections(), 1);
    gate.open();
    assert_eq!(a.response().unwrap().body, b"held");
    // Free again: served on the same (pooled) connection.
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("x", "/quick").unwrap().body, b"quick");
    assert_eq!(origin.connections(), 1);
}

each_driver!(
    round_robin_splits_evenly,
    weighted_round_robin_splits_three_to_one,
    refused_server_is_skipped,
    max_conns_per_host_is_a_hard_limit,
);
