//! A flood of distinct keys against a rate limit: the real binary's memory
//! stays flat (the table is fixed-size) and the evictions show in /metrics.
//! Its own process, so VmRSS is the gateway's alone.

use std::path::Path;
use std::process::Command;

use shardgate_testkit::binary::Running;
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::tools::TempDir;
use shardgate_testkit::{each_driver, free_port, Driver};

each_driver!(a_million_distinct_keys_keep_memory_flat,);

/// Each wrk thread pipelines 50 requests per write, each with a new
/// `X-Key` (thread id and counter), and stops after `KEYS` keys.
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
    parts[i] = "GET / HTTP/1.1\r\nHost: x\r\nX-Key: " .. id .. "-" .. counter .. "\r\n\r\n"
  end
  return table.concat(parts)
end
function response(status)
  if status ~= 200 then
    io.write("status " .. status .. "\n")
  end
  if counter >= KEYS then
    wrk.thread:stop()
  end
end
"#;

/// Keys per wrk thread (two threads).
fn flood(dir: &Path, port: u16, keys: u64) {
    let script = dir.join(format!("flood-{keys}.lua"));
    std::fs::write(&script, FLOOD.replace("KEYS", &keys.to_string())).unwrap();
    let out = Command::new("wrk")
        .args(["-t2", "-c2", "-d120s", "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("status "),
        "every key is within its limit:\n{text}"
    );
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
rate = "10/s"
table_size = 65536
"#
            ),
        )
        .unwrap();
    let gw = Running::start(&config, admin, &[], None).unwrap();
    let pid = gw.0.id();
    // Warm-up: 100k keys bring buffers and pools to their working size and
    // fill the table.
    flood(dir.path(), port, 50_000);
    let before = vm_rss_kib(pid);
    // A million more distinct keys.
    flood(dir.path(), port, 500_000);
    let after = vm_rss_kib(pid);
    eprintln!("{driver}: VmRSS {before} KiB after 100k keys, {after} KiB after 1.1M");
    // One HashMap entry per key would be tens of MiB; the table is 512 KiB
    // and was full before.
    assert!(
        after <= before + 2048,
        "VmRSS grew from {before} KiB to {after} KiB"
    );
    let admin_addr = format!("127.0.0.1:{admin}").parse().unwrap();
    shardgate_testkit::wait_until(std::time::Duration::from_secs(2), || {
        scrape_sum(
            admin_addr,
            "shardgate_rate_limit_evictions_total",
            &[("route", &route)],
        ) > 1_000_000.0
    });
    let evicted = scrape_sum(
        admin_addr,
        "shardgate_rate_limit_evictions_total",
        &[("route", route.as_str())],
    );
    // 1.1M keys, 64 Ki buckets: all but the first 64 Ki evict one (less the
    // rare 16-bit tag collisions within a set).
    assert!(
        (1_000_000.0..=1_100_000.0 - 65_536.0).contains(&evicted),
        "{evicted} evictions"
    );
}
