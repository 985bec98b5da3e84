//! `POST /drain` and what `/ready` means: listeners stop accepting, `/ready`
//! turns 503 (the admin listener keeps answering for the whole drain), a
//! request in flight finishes, a repeated drain changes nothing; and a shard
//! whose connection table is full makes `/ready` 503 until a slot frees.

mod admin_support;

use std::time::Duration;

use admin_support::{admin, call, curl_post, get_json, json};
use shardgate_testkit::{
    each_driver, handler, handlers, refuses, wait_until, Client, Driver, Gate, Gateway, Origin,
};

const CFG: &str = r#"
[admin]
address = "127.0.0.1:0"

[server]
max_connections_per_shard = ${MAX}

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "drain-${DRIVER}"
proxy = "drain-up-${DRIVER}"

[[upstream]]
name = "drain-up-${DRIVER}"
servers = ["${UP}"]
"#;

fn gated_origin(gate: &Gate) -> Origin {
    let slow = handlers::gated(gate.clone(), handlers::fixed(200, &[], b"slow but fine"));
    let quick = handlers::fixed(200, &[], b"quick");
    Origin::start(handler(move |req, r| {
        if req.target == "/slow" {
            slow(req, r)
        } else {
            quick(req, r)
        }
    }))
    .unwrap()
}

fn start(driver: Driver, origin: &Origin, max: usize) -> Gateway {
    Gateway::builder(CFG)
        .var("UP", origin.addr())
        .var("DRIVER", driver)
        .var("MAX", max)
        .driver(driver)
        .start()
        .unwrap()
}

fn drain_stops_accepting_fails_ready_and_lets_in_flight_finish(driver: Driver) {
    let gate = Gate::new();
    let origin = gated_origin(&gate);
    let mut gw = start(driver, &origin, 64);
    let (a, public) = (admin(&gw), gw.addr("public"));
    assert_eq!(get_json(a, "/ready", None)["ready"], true);

    let mut busy = Client::connect(public).unwrap();
    busy.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(origin.wait_requests(1, Duration::from_secs(3)));

    let (status, reply) = curl_post(a, "/drain", None);
    assert_eq!(status, 202, "{reply}");
    assert_eq!(
        (&reply["draining"], &reply["started_now"]),
        (&true.into(), &true.into())
    );

    // The node leaves the balancer: /ready is 503 with a reason, while the
    // process is still up (/healthz) and its admin still answers.
    let r = call(a, "GET", "/ready", None);
    assert_eq!(r.status, 503, "{}", r.body_str());
    let ready = json(&r);
    assert_eq!(ready["ready"], false);
    assert!(
        ready["reason"].as_str().unwrap().contains("draining"),
        "{ready}"
    );
    assert_eq!(call(a, "GET", "/healthz", None).status, 200);
    assert!(
        wait_until(Duration::from_secs(2), || refuses(public)),
        "the listener still accepts after POST /drain"
    );
    // The shard reports itself draining with the request still busy.
    assert!(
        wait_until(Duration::from_secs(2), || {
            let s = get_json(a, "/shards", None);
            s["shards"][0]["phase"] == "draining" && s["shards"][0]["tcp"]["busy"] == 1
        }),
        "{}",
        get_json(a, "/shards", None)
    );
    // Idempotent.
    let (status, reply) = curl_post(a, "/drain", None);
    assert_eq!(
        (status, &reply["started_now"]),
        (202, &false.into()),
        "{reply}"
    );

    gate.open();
    let r = busy.response().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slow but fine"[..]));
    assert!(r.closes());
    gw.join();
    assert!(
        refuses(a),
        "the admin listener stops once the shards are done"
    );
}

fn ready_is_503_while_a_shard_table_is_full(driver: Driver) {
    let origin = gated_origin(&Gate::new());
    let gw = start(driver, &origin, 2);
    let (a, public) = (admin(&gw), gw.addr("public"));
    let mut first = Client::connect(public).unwrap();
    assert_eq!(first.get("a", "/").unwrap().status, 200);
    let mut second = Client::connect(public).unwrap();
    assert_eq!(second.get("a", "/").unwrap().status, 200);
    assert!(
        wait_until(Duration::from_secs(2), || call(a, "GET", "/ready", None)
            .status
            == 503),
        "{}",
        call(a, "GET", "/ready", None).body_str()
    );
    let ready = json(&call(a, "GET", "/ready", None));
    assert!(
        ready["reason"]
            .as_str()
            .unwrap()
            .contains("connection table is full (2 of 2)"),
        "{ready}"
    );
    assert_eq!(ready["shards_accepting"], 0);
    assert_eq!(
        get_json(a, "/shards", None)["shards"][0]["accepting"],
        false
    );
    drop(second);
    assert!(
        wait_until(Duration::from_secs(2), || call(a, "GET", "/ready", None)
            .status
            == 200),
        "{}",
        call(a, "GET", "/ready", None).body_str()
    );
    assert_eq!(first.get("a", "/").unwrap().status, 200);
}

each_driver!(
    drain_stops_accepting_fails_ready_and_lets_in_flight_finish,
    ready_is_503_while_a_shard_table_is_full,
);
