//! `/upstreams` on the admin listener: JSON with each upstream server's
//! active-check state and last probe, its outlier state, and every shard's
//! pool figures; kept across a reload for servers that stay.

mod health_support;

use std::time::Duration;

use health_support::*;
use shardgate_testkit::{each_driver, wait_until, Client, Driver, Gateway, Origin};

const CFG: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "${U}"

[[upstream]]
name = "${U}"
servers = ["${A}", "${B}", "${C}"]
[upstream.pool]
idle_timeout = "60s"
[upstream.outlier]
consecutive_failures = 2
on_5xx = true
base_ejection_time = "60s"
max_ejection_time = "60s"
max_ejection_percent = 50
panic_threshold = 0
"#;

const CHECK: &str = r#"
[upstream.health_check]
kind = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"
healthy_threshold = 1
unhealthy_threshold = 1
"#;

const SECS5: Duration = Duration::from_secs(5);

fn shows_health_ejection_and_pools_and_keeps_them_across_reload(driver: Driver) {
    let u = format!("view-{driver}");
    // A serves; B fails its health check; C answers traffic with 500s.
    let (sa, sb, sc) = (Switch::new(), Switch::new(), Switch::new());
    sb.set_health(503);
    sc.set_traffic(500);
    let a = Origin::start(sa.handler("a")).unwrap();
    let b = Origin::start(sb.handler("b")).unwrap();
    let c = Origin::start(sc.handler("c")).unwrap();
    let gw = Gateway::builder(&format!("{CFG}{CHECK}"))
        .var("U", &u)
        .var("A", a.addr())
        .var("B", b.addr())
        .var("C", c.addr())
        .driver(driver)
        .shards(2)
        .start()
        .unwrap();
    let admin = gw.admin().unwrap();
    wait_server(admin, &u, b.addr(), SECS5, |s| {
        s["active"]["state"] == "down"
    });
    // Traffic on many connections (both shards): C fails twice and is
    // ejected, A's connections stay pooled.
    let mut clients: Vec<Client> = (0..8)
        .map(|_| Client::connect(gw.addr("public")).unwrap())
        .collect();
    for _ in 0..3 {
        for cl in &mut clients {
            cl.get("a", "/").unwrap();
        }
    }
    // Pool figures are published once a second per shard: wait until both
    // shards did and the figures account for every connection A has open
    // (all idle now; a probe's short connection may be open for a moment).
    let mut doc = serde_json::Value::Null;
    let settled = wait_until(SECS5, || {
        doc = upstreams(admin);
        let shards = server(&doc, &u, a.addr())["shards"].clone();
        let Some(shards) = shards.as_array().filter(|s| s.len() == 2) else {
            return false;
        };
        let idle: Option<u64> = shards.iter().map(|f| f["idle"].as_u64()).sum();
        idle.is_some_and(|i| i >= 1 && i as usize == a.open_connections())
    });
    assert!(settled, "{doc} vs {} open at A", a.open_connections());
    assert_eq!(doc["generation"], 1);
    let up = upstream(&doc, &u);
    assert_eq!(up["active_check"], true);
    assert_eq!(
        (up["healthy"].as_u64(), up["panic"].as_bool()),
        (Some(1), Some(false)),
        "{up}"
    );

    let sa_ = server(&doc, &u, a.addr());
    assert_eq!(sa_["healthy"], true);
    assert_eq!(sa_["active"]["state"], "up");
    assert_eq!(sa_["active"]["last_probe"], "passed");
    assert!(
        sa_["active"]["last_probe_ms_ago"].as_u64().unwrap() < 2000,
        "{sa_}"
    );
    assert_eq!(sa_["outlier"]["ejected"], false);
    let shards = sa_["shards"].as_array().unwrap();
    for f in shards {
        let n = |k: &str| f[k].as_u64().unwrap();
        assert_eq!(n("open"), n("idle") + n("busy") + n("draining"), "{f}");
        assert_eq!(
            (n("busy"), n("draining")),
            (0, 0),
            "no request in flight: {f}"
        );
        assert_eq!(n("backoff_failures"), 0, "{f}");
    }
    let idle: u64 = shards.iter().map(|f| f["idle"].as_u64().unwrap()).sum();
    assert!(idle >= 1, "{sa_}");
    assert_eq!(shards[1]["shard"], 1);

    let sb_ = server(&doc, &u, b.addr());
    assert_eq!(
        (sb_["healthy"].as_bool(), sb_["active"]["state"].as_str()),
        (Some(false), Some("down"))
    );
    assert_eq!(sb_["active"]["last_probe"], "failed");
    assert!(sb_["active"]["failed_in_row"].as_u64().unwrap() >= 1);
    assert_eq!(
        b.received().iter().filter(|r| r.target == "/").count(),
        0,
        "B got traffic while down"
    );

    let sc_ = server(&doc, &u, c.addr());
    assert_eq!(sc_["healthy"], false);
    assert_eq!(sc_["active"]["state"], "up");
    assert_eq!(sc_["outlier"]["ejected"], true);
    assert_eq!(sc_["outlier"]["ejections"], 1);
    assert_eq!(sc_["outlier"]["consecutive_failures"], 0);
    let left = sc_["outlier"]["ejected_for_ms"].as_u64().unwrap();
    assert!(left > 50_000 && left <= 60_000, "{sc_}");

    // A reload without the check: B's verdict is gone, C stays ejected.
    gw.reload(CFG).unwrap();
    let doc = upstreams(admin);
    assert_eq!(doc["generation"], 2);
    assert_eq!(upstream(&doc, &u)["active_check"], false);
    let sb_ = server(&doc, &u, b.addr());
    assert_eq!(
        (sb_["active"]["state"].as_str(), sb_["healthy"].as_bool()),
        (Some("unchecked"), Some(true))
    );
    assert!(sb_["active"]["last_probe"].is_null() && sb_["active"]["last_probe_ms_ago"].is_null());
    let sc_ = server(&doc, &u, c.addr());
    assert_eq!(
        (
            sc_["outlier"]["ejected"].as_bool(),
            sc_["outlier"]["ejections"].as_u64()
        ),
        (Some(true), Some(1))
    );
    // HEAD: the same head, no body.
    let r = Client::connect(admin)
        .unwrap()
        .request(b"HEAD /upstreams HTTP/1.1\r\nHost: admin\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

each_driver!(shows_health_ejection_and_pools_and_keeps_them_across_reload);
