//! `GET /shards`: per shard its driver, core, phase and connections by
//! state, moving with real connections: HTTP/1.1 keep-alive clients in the
//! TCP table, an aioquic client (tools/h3client.py) in the QUIC table.

mod admin_support;

use std::net::SocketAddr;
use std::time::Duration;

use admin_support::{admin, get_json};
use serde_json::Value;
use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::{
    each_driver, handler, handlers, wait_until, Client, Driver, Gate, Gateway, Origin, TestCert,
};

const TCP: &str = r#"
[admin]
address = "127.0.0.1:0"

[server]
steering = "hash"
max_connections_per_shard = 100

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "shards-${DRIVER}"
proxy = "shards-up-${DRIVER}"

[[upstream]]
name = "shards-up-${DRIVER}"
servers = ["${UP}"]
"#;

/// The TCP figure `field` summed over shards.
fn tcp(doc: &Value, field: &str) -> u64 {
    doc["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tcp"][field].as_u64().unwrap())
        .sum()
}

/// Waits (the shards publish every 25 ms) until `want` holds.
fn until(a: SocketAddr, want: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(Duration::from_secs(3), || {
        last = get_json(a, "/shards", None);
        want(&last)
    });
    assert!(ok, "{last}");
    last
}

fn tcp_connections_move_through_the_table_states(driver: Driver) {
    let gate = Gate::new();
    let slow = handlers::gated(gate.clone(), handlers::fixed(200, &[], b"slow"));
    let quick = handlers::fixed(200, &[], b"quick");
    let origin = Origin::start(handler(move |req, r| {
        if req.target == "/slow" {
            slow(req, r)
        } else {
            quick(req, r)
        }
    }))
    .unwrap();
    let gw = Gateway::builder(TCP)
        .var("UP", origin.addr())
        .var("DRIVER", driver)
        .driver(driver)
        .shards(2)
        .start()
        .unwrap();
    let (a, public) = (admin(&gw), gw.addr("public"));

    let doc = until(a, |d| tcp(d, "open") == 0);
    let shards = doc["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2);
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"], i);
        assert_eq!(s["driver"], driver.to_string(), "{s}");
        assert_eq!(
            (&s["phase"], &s["accepting"]),
            (&"serving".into(), &true.into())
        );
        assert_eq!(s["tcp"]["capacity"], 100);
        assert!(s["core"].is_null() || s["core"].is_u64(), "{s}");
        assert_eq!(s["quic"], Value::Array(vec![]));
    }
    if let (Some(c0), Some(c1)) = (shards[0]["core"].as_u64(), shards[1]["core"].as_u64()) {
        assert_ne!(c0, c1, "two shards pinned to one core");
    }

    // Three keep-alive connections, each served once and now waiting …
    let mut idle: Vec<Client> = (0..3).map(|_| Client::connect(public).unwrap()).collect();
    for c in &mut idle {
        assert_eq!(c.get("a", "/").unwrap().status, 200);
    }
    // … and one whose request the origin holds.
    let mut busy = Client::connect(public).unwrap();
    busy.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(origin.wait_requests(4, Duration::from_secs(3)));
    let doc = until(a, |d| {
        tcp(d, "busy") == 1 && tcp(d, "idle") + tcp(d, "parked") == 3 && tcp(d, "open") == 4
    });
    assert!(tcp(&doc, "accepted_total") >= 4, "{doc}");

    // The waiting ones leave: only the busy one is left.
    idle.clear();
    until(a, |d| tcp(d, "open") == 1 && tcp(d, "busy") == 1);
    gate.open();
    assert_eq!(busy.response().unwrap().body, b"slow");
    drop(busy);
    until(a, |d| tcp(d, "open") == 0);
}

const H3: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "quic-${DRIVER}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]
[listener.quic]
max_connections = 16

[[route]]
name = "quic-shards-${DRIVER}"
proxy = "quic-up-${DRIVER}"

[[upstream]]
name = "quic-up-${DRIVER}"
servers = ["${UP}"]
"#;

/// The QUIC figure `field` of `listener`, summed over shards.
fn quic(doc: &Value, listener: &str, field: &str) -> u64 {
    doc["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["quic"].as_array().unwrap().iter())
        .filter(|t| t["listener"] == listener)
        .map(|t| t[field].as_u64().unwrap())
        .sum()
}

fn quic_connections_show_in_their_table(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"h3")).unwrap();
    let gw = Gateway::builder(H3)
        .var("UP", origin.addr())
        .var("DRIVER", driver)
        .var("CERTS", cert.toml())
        .driver(driver)
        .start()
        .unwrap();
    let a = admin(&gw);
    let listener = format!("quic-{driver}");
    let addr = gw.addr(&listener);
    let doc = get_json(a, "/shards", None);
    assert_eq!(quic(&doc, &listener, "capacity"), 16, "{doc}");
    assert_eq!(quic(&doc, &listener, "free"), 16);

    // Two connections that hold still before their request.
    let plan = H3Plan::new(addr, "localhost", &cert)
        .connections(2)
        .request(H3Request::get("/held").sleep_before(Duration::from_millis(1500)));
    let running = h3client::spawn(&plan).unwrap();
    until(a, |d| quic(d, &listener, "busy") == 2);
    let results = running.wait().unwrap();
    assert_eq!(
        results.statuses(),
        vec![Some(200), Some(200)],
        "{}",
        results.summary()
    );
    // Closed by the client: the slots come back.
    until(a, |d| quic(d, &listener, "free") == 16);
}

each_driver!(
    tcp_connections_move_through_the_table_states,
    quic_connections_show_in_their_table,
);
