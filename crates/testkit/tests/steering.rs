//! Two shards with each steering mode: every connection is served.

use shardgate_testkit::{each_driver, handlers, Client, Driver, Gateway, Origin};

fn many_connections(driver: Driver, steering: &str) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let cfg = r#"
[server]
steering = "${STEERING}"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
path_prefix = "/p/"
proxy = "origin"

[[route]]
respond = { status = 200, body = "local" }

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;
    let gw = Gateway::builder(cfg)
        .var("STEERING", steering)
        .var("UP", origin.addr())
        .driver(driver)
        .shards(2)
        .start()
        .unwrap_or_else(|e| panic!("steering {steering}: {e}"));
    assert_eq!(gw.drivers(), vec![driver.active(); 2]);
    let addr = gw.addr("public");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut c = Client::connect(addr).unwrap();
                    let path = if (t + i) % 2 == 0 { "/p/x" } else { "/" };
                    let r = c
                        .request(
                            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                                .as_bytes(),
                        )
                        .unwrap();
                    assert_eq!(r.status, 200);
                    assert_eq!(r.body, if path == "/" { &b"local"[..] } else { b"ok" });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(origin.requests(), 100);
    let stats = gw.shard_stats();
    assert_eq!(stats.len(), 2);
    assert_eq!(
        stats.iter().map(|s| s.accepted).sum::<u64>(),
        200,
        "{stats:?}"
    );
    // `hash` (the packet's receive hash mod N) and the kernel's own reuseport
    // hash spread connections; `cpu` follows the CPU that took the SYN, which on
    // loopback is the client's, so it may legitimately land on one shard.
    if steering != "cpu" {
        for (i, s) in stats.iter().enumerate() {
            assert!(
                s.accepted >= 40,
                "steering {steering}: shard {i} got {} of 200 connections: {stats:?}",
                s.accepted
            );
        }
    }
}

fn hash_steering_serves_200_connections(driver: Driver) {
    many_connections(driver, "hash");
}

fn cpu_steering_serves_200_connections(driver: Driver) {
    many_connections(driver, "cpu");
}

fn no_steering_serves_200_connections(driver: Driver) {
    many_connections(driver, "none");
}

each_driver!(
    hash_steering_serves_200_connections,
    cpu_steering_serves_200_connections,
    no_steering_serves_200_connections,
);
