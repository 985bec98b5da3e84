//! TLS to origins (`[upstream.tls]`) on real sockets: a rustls origin
//! (`TlsOrigin`) that records every handshake. Verification against a
//! configured CA, the name checked and sent as SNI, an untrusted or
//! wrongly named certificate (502, counted, one log line), mutual TLS,
//! pooled connections with session resumption, the upgrade tunnel, and a
//! reload that changes the trust anchors.

use std::path::Path;
use std::time::Duration;

use shardgate_testkit::binary::Running;
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{
    each_driver, free_port, handlers, tools, wait_until, Client, Driver, Gateway, TestCert,
    TlsOrigin,
};

const GW: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "${NAME}"

[[upstream]]
name = "${NAME}"
servers = ["${UP}"]
[upstream.tls]
${TLS}
"#;

const SETTLE: Duration = Duration::from_secs(5);

fn path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// `ca = "…"` plus any other lines of the `[upstream.tls]` table.
fn tls_lines(ca: &TestCert, extra: &str) -> String {
    format!("ca = {}\n{extra}", path(&ca.cert))
}

fn start(driver: Driver, name: &str, origin: &TlsOrigin, tls: &str) -> Gateway {
    Gateway::builder(GW)
        .var("NAME", name)
        .var("UP", origin.addr())
        .var("TLS", tls)
        .driver(driver)
        .start()
        .unwrap()
}

fn counter(gw: &Gateway, family: &str, upstream: &str) -> f64 {
    scrape_sum(gw.admin().unwrap(), family, &[("upstream", upstream)])
}

fn verified_with_the_configured_ca_and_named_by_sni(driver: Driver) {
    let cert = TestCert::new(&["origin.test"]).unwrap();
    let origin = TlsOrigin::start(handlers::fixed(200, &[], b"over tls"), &cert).unwrap();
    let name = format!("verified-{driver}");
    let gw = start(
        driver,
        &name,
        &origin,
        &tls_lines(&cert, "sni = \"origin.test\""),
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("x", "/secret").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"over tls"[..]));
    assert_eq!(origin.origin().last().unwrap().target, "/secret");
    let hs = origin.handshakes();
    assert_eq!(hs.len(), 1, "{hs:?}");
    assert_eq!(hs[0].sni.as_deref(), Some("origin.test"));
    assert_eq!(hs[0].alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!((hs[0].error.as_deref(), hs[0].client_cert), (None, false));
    assert_eq!(
        counter(&gw, "shardgate_upstream_tls_handshakes_total", &name),
        1.0
    );
    assert_eq!(
        counter(&gw, "shardgate_upstream_tls_errors_total", &name),
        0.0
    );
}

fn untrusted_certificate_is_a_counted_502_until_a_reload_trusts_it(driver: Driver) {
    let cert = TestCert::new(&["origin.test"]).unwrap();
    let other = TestCert::new(&["origin.test"]).unwrap();
    let origin = TlsOrigin::start(handlers::fixed(200, &[], b"ok"), &cert).unwrap();
    let name = format!("untrusted-{driver}");
    let gw = start(
        driver,
        &name,
        &origin,
        &tls_lines(&other, "sni = \"origin.test\""),
    );
    for _ in 0..3 {
        // A 502 closes the client connection.
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c.get("x", "/").unwrap();
        assert_eq!(r.status, 502, "{}", r.body_str());
    }
    // Refused by us during the handshake: the origin never got a request,
    // and saw our alert.
    assert!(wait_until(SETTLE, || origin.handshakes().len() >= 3));
    assert_eq!(origin.origin().requests(), 0);
    let hs = origin.handshakes();
    assert!(hs.iter().all(|h| h.error.is_some()), "{hs:?}");
    assert_eq!(
        counter(&gw, "shardgate_upstream_tls_errors_total", &name),
        hs.len() as f64
    );

    // The right CA, by reload: the next handshake is verified.
    let fixed = GW
        .replace("${NAME}", &name)
        .replace("${TLS}", &tls_lines(&cert, "sni = \"origin.test\""));
    gw.reload(&fixed).unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("x", "/").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
}

fn a_certificate_for_another_name_is_refused(driver: Driver) {
    let cert = TestCert::new(&["origin.test"]).unwrap();
    let origin = TlsOrigin::start(handlers::fixed(200, &[], b"ok"), &cert).unwrap();
    let name = format!("wrong-name-{driver}");
    let gw = start(
        driver,
        &name,
        &origin,
        &tls_lines(&cert, "sni = \"other.test\""),
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("x", "/").unwrap().status, 502);
    assert!(wait_until(SETTLE, || !origin.handshakes().is_empty()));
    assert_eq!(origin.origin().requests(), 0);
    let hs = origin.handshakes();
    assert_eq!(hs[0].sni.as_deref(), Some("other.test"));
    assert!(hs[0].error.is_some(), "{hs:?}");
}

fn an_ip_address_server_is_verified_against_its_ip_without_sni(driver: Driver) {
    let cert = TestCert::new(&["127.0.0.1"]).unwrap();
    let origin = TlsOrigin::start(handlers::fixed(200, &[], b"by ip"), &cert).unwrap();
    let gw = start(
        driver,
        &format!("by-ip-{driver}"),
        &origin,
        &tls_lines(&cert, ""),
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("x", "/").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"by ip"[..]));
    let hs = origin.handshakes();
    assert_eq!((hs[0].sni.as_deref(), hs[0].error.as_deref()), (None, None));
}

fn mutual_tls_needs_the_client_certificate(driver: Driver) {
    let cert = TestCert::new(&["origin.test"]).unwrap();
    let client = TestCert::new(&["gateway.test"]).unwrap();
    let origin =
        TlsOrigin::with_client_auth(handlers::fixed(200, &[], b"mtls"), &cert, Some(&client))
            .unwrap();
    let name = format!("mtls-{driver}");
    let sni = "sni = \"origin.test\"";
    let gw = start(driver, &name, &origin, &tls_lines(&cert, sni));
    let mut c = Client::connect(gw.addr("public")).unwrap();
    // Without a certificate the origin refuses the handshake (TLS 1.3 says
    // so after our side finished it, when we read).
    assert_eq!(c.get("x", "/").unwrap().status, 502);
    assert!(wait_until(SETTLE, || !origin.handshakes().is_empty()));
    assert_eq!(origin.origin().requests(), 0);
    let hs = origin.handshakes();
    assert!(!hs[0].client_cert && hs[0].error.is_some(), "{hs:?}");
    assert!(
        wait_until(SETTLE, || counter(
            &gw,
            "shardgate_upstream_tls_errors_total",
            &name
        ) >= 1.0),
        "the refusal is counted"
    );

    let with_cert = format!(
        "{sni}\ncert = {}\nkey = {}",
        path(&client.cert),
        path(&client.key)
    );
    let v2 = GW
        .replace("${NAME}", &name)
        .replace("${TLS}", &tls_lines(&cert, &with_cert));
    gw.reload(&v2).unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("x", "/").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"mtls"[..]));
    let last = origin.handshakes().pop().unwrap();
    assert!(last.client_cert && last.error.is_none(), "{last:?}");
}

fn connections_are_pooled_and_sessions_resumed(driver: Driver) {
    let cert = TestCert::new(&["origin.test"]).unwrap();
    let origin = TlsOrigin::start(handlers::fixed(200, &[], b"pooled"), &cert).unwrap();
    let name = format!("pooled-{driver}");
    let gw = start(
        driver,
        &name,
        &origin,
        &tls_lines(&cert, "sni = \"origin.test\""),
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for i in 0..20 {
        // A fresh client connection now and then: pooling is per upstream
        // server, not per client connection.
        if i % 7 == 6 {
            c = Client::connect(gw.addr("public")).unwrap();
        }
        let r = c.get("x", "/").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"pooled"[..]));
    }
    assert_eq!(origin.handshakes().len(), 1);
    assert_eq!(origin.origin().connections(), 1);
    assert_eq!(origin.origin().requests(), 20);

    // The origin closes the idle connection (close_notify, then FIN): the
    // pool drops it, and the next connection resumes the session.
    origin.origin().close_connections();
    assert!(wait_until(SETTLE, || origin.origin().open_connections() == 0));
    std::thread::sleep(Duration::from_millis(50));
    let r = c.get("x", "/").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"pooled"[..]));
    let hs = origin.handshakes();
    assert_eq!(hs.len(), 2, "{hs:?}");
    assert!(hs[1].resumed && hs[1].error.is_none(), "{hs:?}");
    assert_eq!(
        counter(&gw, "shardgate_upstream_tls_resumed_total", &name),
        1.0
    );
}

fn upgrade_tunnel_runs_over_tls(driver: Driver) {
    let cert = TestCert::new(&["origin.test"]).unwrap();
    let origin = TlsOrigin::start(handlers::upgrade_echo(), &cert).unwrap();
    let gw = start(
        driver,
        &format!("tunnel-{driver}"),
        &origin,
        &tls_lines(&cert, "sni = \"origin.test\""),
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly",
    )
    .unwrap();
    assert_eq!(c.head().unwrap().status, 101);
    assert_eq!(c.read_exact(5).unwrap(), b"early");
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for msg in [&b"ping"[..], &big[..]] {
        c.send(msg).unwrap();
        assert_eq!(c.read_exact(msg.len()).unwrap(), msg);
    }
    // Half-close travels as close_notify; the origin's close comes back.
    c.shutdown_write().unwrap();
    c.wait_closed(Duration::from_secs(5)).unwrap();
}

each_driver!(
    verified_with_the_configured_ca_and_named_by_sni,
    untrusted_certificate_is_a_counted_502_until_a_reload_trusts_it,
    a_certificate_for_another_name_is_refused,
    an_ip_address_server_is_verified_against_its_ip_without_sni,
    mutual_tls_needs_the_client_certificate,
    connections_are_pooled_and_sessions_resumed,
    upgrade_tunnel_runs_over_tls,
);

/// However many requests fail on a certificate, the binary logs the
/// failure once (then at most every 10 s) and counts every one.
#[test]
fn a_failing_server_is_logged_once_not_per_request() {
    let cert = TestCert::new(&["origin.test"]).unwrap();
    let other = TestCert::new(&["origin.test"]).unwrap();
    let origin = TlsOrigin::start(handlers::fixed(200, &[], b"ok"), &cert).unwrap();
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let dir = tools::TempDir::new("upstream-tls-log").unwrap();
    let config = format!(
        r#"
[admin]
address = "127.0.0.1:{admin}"
[server]
shards = 1
[[listener]]
name = "public"
address = "127.0.0.1:{port}"
[[route]]
proxy = "origin"
[[upstream]]
name = "origin"
servers = ["{}"]
[upstream.tls]
{}
"#,
        origin.addr(),
        tls_lines(&other, "sni = \"origin.test\"")
    );
    let file = dir.write("gw.toml", config).unwrap();
    let mut child = Running::start(&file, admin, &[], Some(dir.path())).unwrap();
    for _ in 0..20 {
        let mut c = Client::connect(format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
        assert_eq!(c.get("x", "/").unwrap().status, 502);
    }
    let metrics = tools::curl(&[&format!("http://127.0.0.1:{admin}/metrics")])
        .unwrap()
        .body_str();
    let errors = shardgate_testkit::metrics::sum(
        &metrics,
        "shardgate_upstream_tls_errors_total",
        &[("upstream", "origin")],
    )
    .0;
    assert_eq!(errors, 20.0, "{metrics}");
    child.signal("TERM").unwrap();
    assert!(wait_until(Duration::from_secs(10), || matches!(
        child.0.try_wait(),
        Ok(Some(_))
    )));
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("upstream TLS failed"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("invalid peer certificate"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(&origin.addr().to_string()),
        "{}",
        lines[0]
    );
}
