//! Rate limits in the real binary: a flood of distinct keys leaves its
//! memory flat (the table is fixed-size) with the evictions in /metrics, and
//! a client over its limit stays limited across SIGHUP reloads. Each test
//! runs its own process, so VmRSS and every count are its alone.

use std::path::Path;
use std::process::Command;

use shardgate_testkit::binary::Running;
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::tools::TempDir;
use shardgate_testkit::{each_driver, free_port, wait_until, Client, Driver};

each_driver!(
    a_million_distinct_keys_keep_memory_flat,
    a_limited_client_stays_limited_across_sighup,
);

/// Each wrk thread pipelines 50 requests per write, each with a new
/// `X-Key` (run, thread id and counter: never seen before).
const FLOOD: &str = r#"
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
counter = 0
function request()
  local parts = {}
  for i = 1, 50 do
    counter = counter + 1
    parts[i] = "GET / HTTP/1.1\r\nHost: x\r\nX-Key: RUN-" .. tostring(id) .. "-" .. counter .. "\r\n\r\n"
  end
  return table.concat(parts)
end
"#;

/// Sends at least `keys` requests, each with a key never sent before
/// (`runs` numbers the wrk runs across calls); returns how many were sent.
fn flood(dir: &Path, port: u16, keys: u64, runs: &mut u32) -> u64 {
    let mut sent = 0;
    while sent < keys {
        *runs += 1;
        let script = dir.join(format!("flood-{runs}.lua"));
        std::fs::write(&script, FLOOD.replace("RUN", &runs.to_string())).unwrap();
        let out = Command::new("wrk")
            .args(["-t2", "-c2", "-d3s", "-s"])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        let report = shardgate_testkit::tools::parse_wrk(&text).unwrap();
        // Every key is new, so none is over its own limit; only a key whose
        // 16-bit tag matches another key's in its set of 4 shares (and finds
        // spent) that key's bucket: ≈ 4 in 65536 (docs/flow-control.md).
        assert!(report.non_2xx_3xx <= report.requests / 4096 + 5, "{text}");
        assert!(report.requests > 0, "{text}");
        sent += report.requests;
    }
    sent
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn a_million_distinct_keys_keep_memory_flat(driver: Driver) {
    let dir = TempDir::new("rl-keys").unwrap();
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let route = format!("keys-{driver}");
    let config = dir
        .write(
            "gw.toml",
            format!(
                r#"
[server]
shards = 2
driver = "{driver}"

[admin]
address = "127.0.0.1:{admin}"

[[listener]]
name = "public"
address = "127.0.0.1:{port}"

[[route]]
name = "{route}"
respond = {{ status = 200, body = "ok\n" }}
[[route.rate_limit]]
key = "header:X-Key"
rate = "1/h"
burst = 1
table_size = 65536
"#
            ),
        )
        .unwrap();
    let gw = Running::start(&config, admin, &[], None).unwrap();
    let pid = gw.0.id();
    let mut runs = 0;
    // Warm-up: 100k keys bring buffers and pools to their working size and
    // fill the table.
    let warm = flood(dir.path(), port, 100_000, &mut runs);
    let before = vm_rss_kib(pid);
    // A million more distinct keys.
    let flooded = flood(dir.path(), port, 1_000_000, &mut runs);
    let after = vm_rss_kib(pid);
    let total = (warm + flooded) as f64;
    eprintln!("{driver}: VmRSS {before} KiB after {warm} keys, {after} KiB after {flooded} more");
    // One HashMap entry per key would be tens of MiB; the table is 512 KiB
    // and was full before.
    assert!(
        after <= before + 2048,
        "VmRSS grew from {before} KiB to {after} KiB"
    );
    let admin_addr = format!("127.0.0.1:{admin}").parse().unwrap();
    // wrk exits with requests still in the gateway's read buffers: a shard
    // may still be answering them (and evicting for them) after wrk is
    // gone. Each request's log phase runs before its connection closes, so
    // once no client connection is open every count below is final.
    let quiet = wait_until(std::time::Duration::from_secs(10), || {
        scrape_sum(admin_addr, "shardgate_connections_active", &[]) == 0.0
    });
    assert!(quiet, "client connections still open 10 s after wrk ended");
    let route_metric = |name: &str| scrape_sum(admin_addr, name, &[("route", route.as_str())]);
    // The gateway's own counts (wrk leaves out requests still in flight
    // when a run ends). Each request brings a new key, so every one past
    // the table's 64 Ki buckets evicts exactly one (at 1/h no bucket
    // refills), except the few refused because their 16-bit tag matched
    // another key's in its set (they share that key's spent bucket,
    // ≈ 4 in 65536).
    let requests = route_metric("shardgate_requests_total");
    let refused = route_metric("shardgate_requests_shed_total");
    assert!(requests >= total, "{requests} < {total}");
    assert!(
        refused <= requests / 4096.0,
        "{refused} of {requests} refused"
    );
    let want = requests - 65_536.0 - refused;
    // Published by each shard's 100 ms tick (slower on a loaded machine).
    let published = wait_until(std::time::Duration::from_secs(10), || {
        route_metric("shardgate_rate_limit_evictions_total") == want
    });
    let evicted = route_metric("shardgate_rate_limit_evictions_total");
    eprintln!("{driver}: {evicted} evictions, {requests} requests, {refused} refused");
    assert!(published, "{evicted} evictions, want {want}");
}

fn binary_config(driver: Driver, admin: u16, port: u16, extra: &str) -> String {
    format!(
        r#"
[server]
shards = 2
driver = "{driver}"

[admin]
address = "127.0.0.1:{admin}"

[[listener]]
name = "public"
address = "127.0.0.1:{port}"

[[route]]
name = "hup"
respond = {{ status = 200, body = "ok\n" }}
{extra}
"#
    )
}

/// Writes `text`, sends SIGHUP and waits for config generation `generation`.
fn hup(gw: &Running, path: &Path, text: &str, admin: u16, generation: f64) {
    std::fs::write(path, text).unwrap();
    gw.signal("HUP").unwrap();
    let addr = format!("127.0.0.1:{admin}").parse().unwrap();
    assert!(
        wait_until(std::time::Duration::from_secs(5), || scrape_sum(
            addr,
            "shardgate_config_generation",
            &[]
        ) == generation),
        "generation {generation} never published"
    );
}

fn a_limited_client_stays_limited_across_sighup(driver: Driver) {
    let dir = TempDir::new("rl-hup").unwrap();
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let rule = "[[route.rate_limit]]\nrate = \"1/min\"\nburst = 2\n";
    let path = dir
        .write("gw.toml", binary_config(driver, admin, port, rule))
        .unwrap();
    let gw = Running::start(&path, admin, &[], None).unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let status = || Client::connect(addr).unwrap().get("x", "/").unwrap().status;
    assert_eq!([status(), status(), status()], [200, 200, 429]);
    // Reloads that leave the rule alone: still limited, no fresh burst.
    let other = format!(
        "{rule}[[route]]\nname = \"other\"\npath_prefix = \"/other\"\nrespond = {{ status = 204 }}\n"
    );
    hup(
        &gw,
        &path,
        &binary_config(driver, admin, port, &other),
        admin,
        2.0,
    );
    assert_eq!(status(), 429, "no fresh burst after SIGHUP");
    hup(
        &gw,
        &path,
        &binary_config(driver, admin, port, rule),
        admin,
        3.0,
    );
    assert_eq!(status(), 429);
    // A changed rule starts with full buckets.
    let changed = "[[route.rate_limit]]\nrate = \"2/min\"\nburst = 2\n";
    hup(
        &gw,
        &path,
        &binary_config(driver, admin, port, changed),
        admin,
        4.0,
    );
    assert_eq!([status(), status(), status()], [200, 200, 429]);
}
