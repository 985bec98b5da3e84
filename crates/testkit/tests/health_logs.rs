//! Health transitions as operators see them from the real binary: each
//! change (active down/up, ejected/returned, panic entered/left) is one log
//! line and one count, whatever the number of shards and requests.

mod health_support;

use std::net::SocketAddr;
use std::time::Duration;

use health_support::*;
use shardgate_testkit::binary::Running;
use shardgate_testkit::{free_port, metrics, tools, wait_until, Client, Origin};

const SECS5: Duration = Duration::from_secs(5);

#[test]
fn each_transition_is_logged_once_and_counted_once() {
    let (port, admin_port) = (free_port().unwrap(), free_port().unwrap());
    let admin: SocketAddr = ([127, 0, 0, 1], admin_port).into();
    let (sa, sb) = (Switch::new(), Switch::new());
    let a = Origin::start(sa.handler("a")).unwrap();
    let b = Origin::start(sb.handler("b")).unwrap();
    let cfg = format!(
        r#"
[admin]
address = "{admin}"
[server]
shards = 2
[[listener]]
name = "public"
address = "127.0.0.1:{port}"
[[route]]
proxy = "logged"
[[upstream]]
name = "logged"
servers = ["{}", "{}"]
[upstream.health_check]
kind = "http"
path = "/health"
interval = "100ms"
timeout = "100ms"
healthy_threshold = 2
unhealthy_threshold = 2
[upstream.outlier]
consecutive_failures = 2
on_5xx = true
base_ejection_time = "300ms"
max_ejection_percent = 50
panic_threshold = 50
"#,
        a.addr(),
        b.addr()
    );
    let dir = tools::TempDir::new("health-logs").unwrap();
    let path = dir.write("gw.toml", cfg).unwrap();
    let child = Running::start(
        &path,
        admin_port,
        &["--log-format", "json", "--log", "info"],
        Some(dir.path()),
    )
    .unwrap();
    let t = "shardgate_upstream_health_transitions_total";
    let count = |addr: SocketAddr, kind: &str, to: &str| {
        server_metric(admin, t, "logged", addr, &[("kind", kind), ("to", to)])
    };
    let reach = |what: &str, f: &dyn Fn() -> bool| assert!(wait_until(SECS5, f), "never: {what}");

    // Active: A down, then up.
    sa.set_health(500);
    reach("A down", &|| count(a.addr(), "active", "down") == 1.0);
    sa.set_health(200);
    reach("A up", &|| count(a.addr(), "active", "up") == 1.0);

    // Outlier: A answers 500s to traffic until ejected, then serves again.
    sa.set_traffic(500);
    let public: SocketAddr = ([127, 0, 0, 1], port).into();
    reach("A ejected", &|| {
        let _ = Client::connect(public).and_then(|mut c| c.get("a", "/"));
        count(a.addr(), "outlier", "ejected") == 1.0
    });
    sa.set_traffic(200);
    reach("A returned", &|| {
        count(a.addr(), "outlier", "returned") == 1.0
    });

    // Panic: both servers' checks fail, then pass again.
    let panic = |to: &str| {
        metrics::scrape_sum(
            admin,
            "shardgate_upstream_panic_transitions_total",
            &[("upstream", "logged"), ("to", to)],
        )
    };
    sa.set_health(500);
    sb.set_health(500);
    reach("panic", &|| panic("entered") == 1.0);
    sa.set_health(200);
    sb.set_health(200);
    reach("panic over", &|| panic("left") == 1.0);
    reach("both up", &|| {
        count(a.addr(), "active", "up") == 2.0 && count(b.addr(), "active", "up") == 1.0
    });
    // Let a few more probes and sweeps pass: nothing more may be logged.
    std::thread::sleep(Duration::from_millis(300));
    let totals = [
        (a.addr(), "active", "down", 2.0),
        (a.addr(), "active", "up", 2.0),
        (b.addr(), "active", "down", 1.0),
        (b.addr(), "active", "up", 1.0),
        (a.addr(), "outlier", "ejected", 1.0),
        (a.addr(), "outlier", "returned", 1.0),
        (b.addr(), "outlier", "ejected", 0.0),
    ];
    for (addr, kind, to, n) in totals {
        assert_eq!(count(addr, kind, to), n, "{addr} {kind} {to}");
    }

    child.signal("TERM").unwrap();
    let mut child = child;
    assert!(wait_until(Duration::from_secs(10), || matches!(
        child.0.try_wait(),
        Ok(Some(_))
    )));
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    let lines = |message: &str, addr: Option<SocketAddr>| {
        stderr
            .lines()
            .filter(|l| l.contains(message))
            .filter(|l| addr.is_none_or(|a| l.contains(&format!("\"{a}\""))))
            .count()
    };
    let down = "health check failing: server marked down";
    let up = "health check passing: server marked up";
    assert_eq!(lines(down, Some(a.addr())), 2, "{stderr}");
    assert_eq!(lines(up, Some(a.addr())), 2, "{stderr}");
    assert_eq!(lines(down, Some(b.addr())), 1, "{stderr}");
    assert_eq!(lines(up, Some(b.addr())), 1, "{stderr}");
    assert_eq!(
        lines("server ejected after failures in a row", None),
        1,
        "{stderr}"
    );
    assert_eq!(lines("ejection over: server back in", None), 1, "{stderr}");
    assert_eq!(lines("panic: too few healthy servers", None), 1, "{stderr}");
    assert_eq!(
        lines("panic over: health applies again", None),
        1,
        "{stderr}"
    );
}
