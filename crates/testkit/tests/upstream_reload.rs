//! Reloads must not leak upstream connections: when a server leaves the
//! config (removed, or its upstream renamed), its pooled connections close at
//! once and a busy one closes when its request ends. Counted on the origin.

use std::time::Duration;

use shardgate_testkit::{each_driver, handlers, wait_until, Client, Driver, Gate, Gateway, Origin};

const V1: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${A}"]
"#;

const SETTLE: Duration = Duration::from_secs(3);

fn start(driver: Driver, a: &Origin, b: &Origin) -> Gateway {
    Gateway::builder(V1)
        .var("A", a.addr())
        .var("B", b.addr())
        .driver(driver)
        .start()
        .unwrap()
}

fn removed_server_closes_its_idle_connections(driver: Driver) {
    let a = Origin::start(handlers::fixed(200, &[], b"a")).unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let gw = start(driver, &a, &b);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("x", "/").unwrap().body, b"a");
    assert!(wait_until(SETTLE, || a.open_connections() == 1));

    gw.reload(&V1.replace("${A}", "${B}")).unwrap();
    // The shard picks the new generation up with its next request.
    assert_eq!(c.get("x", "/").unwrap().body, b"b");
    assert!(
        wait_until(SETTLE, || a.open_connections() == 0),
        "the pooled connection to the removed server stays open: {}",
        a.open_connections()
    );
    assert_eq!(a.connections(), 1);
}

fn busy_connection_to_removed_server_closes_after_its_request(driver: Driver) {
    let gate = Gate::new();
    let a = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"slow a"),
    ))
    .unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let gw = start(driver, &a, &b);
    let addr = gw.addr("public");
    let slow = std::thread::spawn(move || {
        let mut c = Client::connect(addr).unwrap();
        c.get("x", "/").unwrap()
    });
    assert!(a.wait_requests(1, SETTLE));
    gw.reload(&V1.replace("${A}", "${B}")).unwrap();
    let mut c = Client::connect(addr).unwrap();
    assert_eq!(c.get("x", "/").unwrap().body, b"b");
    // Still serving the request that started before the reload.
    assert_eq!(a.open_connections(), 1);
    gate.open();
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slow a"[..]));
    assert!(
        wait_until(SETTLE, || a.open_connections() == 0),
        "the connection released into a retired server stays open"
    );
}

fn renamed_upstream_closes_the_old_pool(driver: Driver) {
    let a = Origin::start(handlers::fixed(200, &[], b"a")).unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let gw = start(driver, &a, &b);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("x", "/").unwrap().body, b"a");
    let renamed = V1
        .replace("proxy = \"origin\"", "proxy = \"renamed\"")
        .replace("name = \"origin\"", "name = \"renamed\"");
    gw.reload(&renamed).unwrap();
    assert_eq!(c.get("x", "/").unwrap().body, b"a");
    // The old pool's connection closed; the new upstream opened its own.
    assert!(
        wait_until(SETTLE, || a.connections() == 2 && a.open_connections() == 1),
        "connections {} open {}",
        a.connections(),
        a.open_connections()
    );
}

fn changed_pool_settings_keep_pooled_connections(driver: Driver) {
    let a = Origin::start(handlers::fixed(200, &[], b"a")).unwrap();
    let b = Origin::start(handlers::fixed(200, &[], b"b")).unwrap();
    let gw = start(driver, &a, &b);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("x", "/").unwrap().body, b"a");
    let v2 = format!("{V1}\n[upstream.pool]\nmax_idle_per_host = 7\n");
    gw.reload(&v2).unwrap();
    assert_eq!(c.get("x", "/").unwrap().body, b"a");
    assert_eq!(c.get("x", "/").unwrap().body, b"a");
    // Reconfigured in place: the pooled connection is reused, none leaks.
    assert_eq!(a.connections(), 1);
    assert_eq!(a.open_connections(), 1);
}

each_driver!(
    removed_server_closes_its_idle_connections,
    busy_connection_to_removed_server_closes_after_its_request,
    renamed_upstream_closes_the_old_pool,
    changed_pool_settings_keep_pooled_connections,
);
