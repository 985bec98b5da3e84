//! Servers given by host name, against a DNS server the test controls:
//! a change of address is followed (new servers get traffic, removed ones
//! drain), a short TTL is honoured, a failed resolution keeps the last
//! good addresses, start-up and reload refuse names that do not resolve,
//! and TLS to a named server names it by SNI.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use shardgate_testkit::binary::shardgate_command;
use shardgate_testkit::dns::Answer;
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{
    each_driver, handler, handlers, tools, wait_until, After, Client, DnsServer, Driver, Gate,
    Gateway, Origin, OriginOptions, TestCert, TlsOrigin,
};

const GW: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "app"

[[upstream]]
name = "app"
servers = ["${NAME}:${PORT}"]
resolve_interval = "${EVERY}"
${TLS}

[resolver]
nameservers = ["${DNS}"]
timeout = "200ms"
"#;

const SETTLE: Duration = Duration::from_secs(10);
const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Two origins on the same port, at 127.0.0.1 and 127.0.0.2, answering
/// "a" and "b" ("a" holds `/slow` until `gate` opens).
fn origins(gate: &Gate) -> (Origin, Origin) {
    for _ in 0..20 {
        let g = gate.clone();
        let a = Origin::with_options(
            handler(move |req, r| {
                if req.target == "/slow" && !g.wait(Duration::from_secs(30)) {
                    return Ok(After::Close);
                }
                handlers::fixed(200, &[], b"a")(req, r)
            }),
            OriginOptions::default(),
        )
        .unwrap();
        let at_b = SocketAddr::new(B.into(), a.addr().port());
        if let Ok(b) = Origin::bind(
            at_b,
            handlers::fixed(200, &[], b"b"),
            OriginOptions::default(),
        ) {
            return (a, b);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

fn start(driver: Driver, dns: &DnsServer, port: u16, every: &str) -> Gateway {
    Gateway::builder(GW)
        .var("NAME", "app.test")
        .var("PORT", port)
        .var("EVERY", every)
        .var("TLS", "")
        .var("DNS", dns.addr())
        .driver(driver)
        .start()
        .unwrap()
}

fn body(gw: &Gateway, path: &str) -> String {
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("x", path).unwrap();
    assert_eq!(r.status, 200, "{}", r.body_str());
    r.body_str()
}

fn dns_counter(gw: &Gateway, family: &str) -> f64 {
    scrape_sum(gw.admin().unwrap(), family, &[("host", "app.test")])
}

fn a_dns_change_moves_traffic_and_drains_the_old_server(driver: Driver) {
    let gate = Gate::new();
    let (a, b) = origins(&gate);
    let dns = DnsServer::start().unwrap();
    dns.set("app.test", Answer::addrs(&[A], 300));
    let gw = start(driver, &dns, a.addr().port(), "200ms");
    // A request in flight on "a" when the name moves, and a second
    // connection to "a" idle in the pool.
    let addr = gw.addr("public");
    let slow = std::thread::spawn(move || {
        let mut c = Client::connect(addr).unwrap();
        c.get("x", "/slow").unwrap()
    });
    assert!(a.wait_requests(1, SETTLE));
    assert_eq!(body(&gw, "/"), "a");
    assert_eq!(a.open_connections(), 2, "one busy, one pooled");

    dns.set("app.test", Answer::addrs(&[B], 300));
    assert!(
        wait_until(SETTLE, || body(&gw, "/") == "b"),
        "the new address never got traffic"
    );
    // The removed server's idle connection closed; the busy one finishes.
    assert!(wait_until(SETTLE, || a.open_connections() == 1));
    assert_eq!(body(&gw, "/"), "b");
    gate.open();
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"a"[..]));
    assert!(
        wait_until(SETTLE, || a.open_connections() == 0),
        "the busy connection to the removed server stays open"
    );
    assert!(dns_counter(&gw, "shardgate_dns_changes_total") >= 1.0);
    assert!(b.requests() >= 2);
}

fn a_short_ttl_is_honoured_before_the_interval(driver: Driver) {
    let (a, b) = origins(&Gate::new());
    let dns = DnsServer::start().unwrap();
    dns.set("app.test", Answer::addrs(&[A], 1));
    // The interval alone would wait an hour.
    let gw = start(driver, &dns, a.addr().port(), "1h");
    assert_eq!(body(&gw, "/"), "a");
    dns.set("app.test", Answer::addrs(&[B], 1));
    assert!(wait_until(SETTLE, || body(&gw, "/") == "b"));
    assert!(b.requests() >= 1);
}

fn a_failed_resolution_keeps_the_last_good_addresses(driver: Driver) {
    let (a, b) = origins(&Gate::new());
    let dns = DnsServer::start().unwrap();
    dns.set("app.test", Answer::addrs(&[A], 300));
    let gw = start(driver, &dns, a.addr().port(), "200ms");
    assert_eq!(body(&gw, "/"), "a");
    for failure in [Answer::ServFail, Answer::NxDomain, Answer::Silent] {
        let before = dns.asked("app.test");
        dns.set("app.test", failure.clone());
        // Re-resolved (and failed) at least twice since.
        assert!(
            dns.wait_asked("app.test", before + 3, SETTLE),
            "{failure:?}: never asked again"
        );
        for _ in 0..5 {
            assert_eq!(body(&gw, "/"), "a", "{failure:?}");
        }
    }
    assert!(dns_counter(&gw, "shardgate_dns_failures_total") >= 3.0);
    assert_eq!(b.requests(), 0);
    // Answering again, with a new address: followed.
    dns.set("app.test", Answer::addrs(&[B], 300));
    assert!(wait_until(SETTLE, || body(&gw, "/") == "b"));
}

fn reload_resolves_new_names_and_refuses_unresolvable_ones(driver: Driver) {
    let (a, b) = origins(&Gate::new());
    let dns = DnsServer::start().unwrap();
    dns.set("app.test", Answer::addrs(&[A], 300));
    dns.set("other.test", Answer::addrs(&[B], 300));
    let gw = start(driver, &dns, a.addr().port(), "30s");
    assert_eq!(body(&gw, "/"), "a");
    let with = |name: &str| {
        GW.replace("${NAME}", name)
            .replace("${PORT}", &a.addr().port().to_string())
            .replace("${EVERY}", "30s")
            .replace("${TLS}", "")
            .replace("${DNS}", &dns.addr().to_string())
    };
    gw.reload(&with("other.test")).unwrap();
    assert_eq!(body(&gw, "/"), "b");
    let err = gw.reload(&with("missing.test")).unwrap_err().to_string();
    assert!(
        err.contains("upstream[0].servers[0]") && err.contains("\"missing.test\" does not resolve"),
        "{err}"
    );
    assert!(err.contains("NXDOMAIN"), "{err}");
    assert_eq!(body(&gw, "/"), "b", "the running config stays");
    assert!(b.requests() >= 2);
}

fn tls_to_a_named_server_verifies_and_sends_its_name(driver: Driver) {
    let cert = TestCert::new(&["app.test"]).unwrap();
    let origin = TlsOrigin::start(handlers::fixed(200, &[], b"named tls"), &cert).unwrap();
    let dns = DnsServer::start().unwrap();
    dns.set("app.test", Answer::addrs(&[A], 300));
    let tls = format!("[upstream.tls]\nca = {:?}", cert.cert.display().to_string());
    let gw = Gateway::builder(GW)
        .var("NAME", "app.test")
        .var("PORT", origin.addr().port())
        .var("EVERY", "30s")
        .var("TLS", tls)
        .var("DNS", dns.addr())
        .driver(driver)
        .start()
        .unwrap();
    assert_eq!(body(&gw, "/"), "named tls");
    let hs = origin.handshakes();
    assert_eq!(hs[0].sni.as_deref(), Some("app.test"));
    assert_eq!(hs[0].error, None);
}

each_driver!(
    a_dns_change_moves_traffic_and_drains_the_old_server,
    a_short_ttl_is_honoured_before_the_interval,
    a_failed_resolution_keeps_the_last_good_addresses,
    reload_resolves_new_names_and_refuses_unresolvable_ones,
    tls_to_a_named_server_verifies_and_sends_its_name,
);

#[test]
fn start_refuses_a_name_that_does_not_resolve() {
    let dns = DnsServer::start().unwrap();
    let started = Gateway::builder(GW)
        .var("NAME", "missing.test")
        .var("PORT", 80)
        .var("EVERY", "30s")
        .var("TLS", "")
        .var("DNS", dns.addr())
        .start();
    let err = match started {
        Ok(_) => panic!("started with a name that does not resolve"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("<test>:14:12: upstream[0].servers[0]: \"missing.test\" does not resolve: no such name (NXDOMAIN"),
        "{err}"
    );
}

#[test]
fn check_resolves_names_unless_told_not_to() {
    let dns = DnsServer::start().unwrap();
    dns.set("app.test", Answer::addrs(&[A], 300));
    let dir = tools::TempDir::new("dns-check").unwrap();
    let config = |name: &str| {
        GW.replace("${NAME}", name)
            .replace("${PORT}", "80")
            .replace("${EVERY}", "30s")
            .replace("${TLS}", "")
            .replace("${DNS}", &dns.addr().to_string())
    };
    let check = |file: &std::path::Path, extra: &[&str]| {
        let mut c: Command = shardgate_command().unwrap();
        let out = c
            .arg("check")
            .arg("--config")
            .arg(file)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = dir.write("good.toml", config("app.test")).unwrap();
    assert_eq!(check(&good, &[]).0, Some(0));
    let bad = dir.write("bad.toml", config("missing.test")).unwrap();
    let (code, stderr) = check(&bad, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr
            .contains("bad.toml:14:12: upstream[0].servers[0]: \"missing.test\" does not resolve"),
        "{stderr}"
    );
    assert_eq!(check(&bad, &["--no-resolve"]).0, Some(0));
}
