use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;

fn base() -> Config {
    shardgate_config::parse(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:8080"
[[route]]
proxy = "app"
[[upstream]]
name = "app"
servers = ["10.0.0.1:80", { address = "app.test:80", weight = 3 }]
resolve_interval = "30s"
[[upstream]]
name = "other"
servers = ["app.test:81"]
resolve_interval = "10s"
"#,
        "t.toml",
    )
    .unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn table(addrs: &[&str], ttl: Option<Duration>, now: Instant) -> Table {
    let mut t = Table::default();
    t.hosts.insert(
        "app.test".into(),
        Entry {
            addrs: ips(addrs),
            checked: now,
            cap: ttl,
            failure: None,
        },
    );
    t
}

#[test]
fn each_address_becomes_a_server_once_after_the_ip_entries() {
    let now = Instant::now();
    let cfg = table(&["10.0.0.1", "10.0.0.2"], None, now).apply(&base());
    let app: Vec<(String, u32, Option<&str>)> = cfg.upstreams[0]
        .servers
        .iter()
        .map(|s| (s.address.to_string(), s.weight, s.host.as_deref()))
        .collect();
    assert_eq!(
        app,
        [
            ("10.0.0.1:80".to_string(), 1, None),
            ("10.0.0.2:80".to_string(), 3, Some("app.test")),
        ]
    );
    let other: Vec<String> = cfg.upstreams[1]
        .servers
        .iter()
        .map(|s| s.address.to_string())
        .collect();
    assert_eq!(other, ["10.0.0.1:81", "10.0.0.2:81"]);
}

#[test]
fn a_failure_keeps_the_last_good_addresses() {
    let now = Instant::now();
    let mut t = table(&["10.0.0.2"], None, now);
    assert!(!t.record("app.test", Err("SERVFAIL".into()), now));
    assert_eq!(t.hosts["app.test"].addrs, ips(&["10.0.0.2"]));
    let same = Answer {
        addrs: ips(&["10.0.0.2"]),
        ttl: None,
    };
    assert!(!t.record("app.test", Ok(same), now));
    let moved = Answer {
        addrs: ips(&["10.0.0.3"]),
        ttl: None,
    };
    assert!(t.record("app.test", Ok(moved), now));
    assert_eq!(t.hosts["app.test"].addrs, ips(&["10.0.0.3"]));
}

#[test]
fn the_shortest_interval_a_short_ttl_and_a_failure_bring_the_next_resolution_forward() {
    let now = Instant::now();
    let b = base();
    // Named by two upstreams: the shorter interval (10 s) applies.
    let t = table(&["10.0.0.2"], None, now);
    assert!(t.due(&b, now + Duration::from_secs(9)).0.is_empty());
    assert_eq!(t.due(&b, now).1, Some(now + Duration::from_secs(10)));
    assert_eq!(t.due(&b, now + Duration::from_secs(10)).0, ["app.test"]);
    // A TTL below the interval is honoured.
    let t = table(&["10.0.0.2"], Some(Duration::from_secs(2)), now);
    assert_eq!(t.due(&b, now + Duration::from_secs(2)).0, ["app.test"]);
    // After a failure, a retry within RETRY.
    let mut t = table(&["10.0.0.2"], None, now);
    t.record("app.test", Err("timeout".into()), now);
    assert_eq!(t.due(&b, now).1, Some(now + RETRY));
}

#[test]
fn names_no_longer_used_are_forgotten() {
    let now = Instant::now();
    let mut t = table(&["10.0.0.2"], None, now);
    let mut b = base();
    b.upstreams.iter_mut().for_each(|u| u.named.clear());
    t.retain(&b);
    assert!(t.hosts.is_empty());
    assert_eq!(t.due(&b, now), (Vec::new(), None));
}
