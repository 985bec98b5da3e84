//! TCP Fast Open end to end: with `net.ipv4.tcp_fastopen = 3`, a client using TFO
//! (curl --tcp-fastopen) and the gateway's own TFO connects to its upstream must
//! show up in the kernel's TFO counters. Needs root to set the sysctl; restores it.

use std::process::Command;
use std::time::Duration;

const SYSCTL: &str = "/proc/sys/net/ipv4/tcp_fastopen";

struct SysctlGuard(String);

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, &self.0);
    }
}

/// TcpExt counters from /proc/net/netstat (the header line names the fields).
fn tcp_ext(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap();
    let mut lines = text.lines();
    while let (Some(h), Some(v)) = (lines.next(), lines.next()) {
        if !h.starts_with("TcpExt:") {
            continue;
        }
        let idx = h.split_whitespace().position(|f| f == name).unwrap();
        return v.split_whitespace().nth(idx).unwrap().parse().unwrap();
    }
    panic!("TcpExt not found");
}

#[test]
fn fast_open_on_listener_and_upstream_connects() {
    let old = std::fs::read_to_string(SYSCTL).unwrap();
    if std::fs::write(SYSCTL, "3").is_err() {
        panic!("this test needs root to set {SYSCTL} to 3 (CI runs as root)");
    }
    let _guard = SysctlGuard(old.trim().to_string());

    // The gateway proxies to its own second listener, so both the client→gateway
    // and the gateway→upstream hops are TFO-capable. A pool that keeps nothing
    // forces a new upstream connection per request.
    let cfg = |upstream_port: u16| {
        format!(
            r#"
[server]
shards = 1
[[listener]]
name = "public"
address = "127.0.0.1:0"
tcp_fast_open = 64
[[listener]]
name = "internal"
address = "127.0.0.1:{upstream_port}"
tcp_fast_open = 64
[[route]]
listeners = ["public"]
proxy = "self"
[[route]]
listeners = ["internal"]
respond = {{ status = 200, body = "fast\n" }}
[[upstream]]
name = "self"
servers = ["127.0.0.1:{upstream_port}"]
tcp_fast_open = true
[upstream.pool]
max_idle_per_host = 0
"#
        )
    };
    // Reserve a port for the internal listener (the upstream address must be known).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = shardgate_config::parse(&cfg(port), "tfo.toml").unwrap();
    let server = shardgate_server::Server::start(config).unwrap();
    let addr = server.listener_addr("public").unwrap();

    let passive0 = tcp_ext("TCPFastOpenPassive");
    let active0 = tcp_ext("TCPFastOpenActive");
    for _ in 0..6 {
        let out = Command::new("curl")
            .args(["-s", "--tcp-fastopen", "--max-time", "5"])
            .arg(format!("http://{addr}/"))
            .output()
            .expect("curl runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "fast\n");
        std::thread::sleep(Duration::from_millis(20));
    }
    let passive = tcp_ext("TCPFastOpenPassive") - passive0;
    let active = tcp_ext("TCPFastOpenActive") - active0;
    // The first connection to each destination only fetches the cookie; the
    // other five per hop carry data in the SYN. Other tests may add to the
    // counters, never subtract, so these are lower bounds.
    assert!(
        active >= 8,
        "TFO connects with data in the SYN: {active} (want ≥ 8 of 10)"
    );
    assert!(passive >= 8, "TFO accepts: {passive} (want ≥ 8 of 10)");
}
