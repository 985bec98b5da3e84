//! Config reload through the harness: new rules for new requests, refused
//! changes leave the running config alone.

use shardgate_testkit::{each_driver, handlers, Client, Driver, Gateway, Origin};

const V1: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
respond = { status = 200, body = "v1" }

[[route]]
path_prefix = "/api/"
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn reload_switches_routes_and_refuses_restart_changes(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"from origin")).unwrap();
    let other = Origin::start(handlers::fixed(200, &[], b"from other")).unwrap();
    let gw = Gateway::builder(V1)
        .var("UP", origin.addr())
        .var("OTHER", other.addr())
        .driver(driver)
        .start()
        .unwrap();
    let mut kept = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(kept.get("a", "/").unwrap().body, b"v1");
    assert_eq!(kept.get("a", "/api/x").unwrap().body, b"from origin");

    let v2 = V1.replace("\"v1\"", "\"v2\"").replace("${UP}", "${OTHER}");
    let generation = gw.reload(&v2).unwrap();
    assert!(generation >= 2);
    // Both new and kept-alive connections see the new generation.
    let mut fresh = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(fresh.get("a", "/").unwrap().body, b"v2");
    assert_eq!(kept.get("a", "/").unwrap().body, b"v2");
    assert_eq!(kept.get("a", "/api/x").unwrap().body, b"from other");

    // A change that needs a restart is refused, naming the key: v2 stays.
    let v3 = format!("[server]\nmax_connections_per_shard = 77\n{v2}").replace("\"v2\"", "\"v3\"");
    let err = gw.reload(&v3).unwrap_err().to_string();
    assert!(
        err.contains("server.max_connections_per_shard") && err.contains("restart needed"),
        "{err}"
    );
    assert_eq!(fresh.get("a", "/").unwrap().body, b"v2");
    // An invalid config is refused too.
    assert!(gw.reload("this is not toml [").is_err());
    assert_eq!(fresh.get("a", "/").unwrap().body, b"v2");
}

each_driver!(reload_switches_routes_and_refuses_restart_changes,);
