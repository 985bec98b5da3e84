//! TLS termination on real sockets: curl and a rustls client against the
//! gateway, certificates made per test. Covers proxying over TLS (with the
//! forwarded scheme), keep-alive and pipelining, SNI certificate choice,
//! protocol versions, ALPN, handshake timeouts and garbage, close_notify, the
//! upgrade tunnel, certificate reload and graceful stop.

use std::time::Duration;

use shardgate_testkit::binary::Running;
use shardgate_testkit::tls::{client_config, client_config_versions};
use shardgate_testkit::{
    each_driver, free_port, handlers, tools, wait_until, Client, Driver, Gateway, Origin, TestCert,
    TlsClient,
};

const TLS_PROXY: &str = r#"
[server.timeouts]
tls_handshake = "${HS}"

[[listener]]
name = "tls"
address = "127.0.0.1:0"
[listener.tls]
certificates = [${CERTS}]
min_version = "${MIN}"

[[route]]
proxy = "origin"
forwarded = { forwarded = true }

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn start(driver: Driver, origin: &Origin, certs: &[&TestCert], min: &str) -> Gateway {
    let list: Vec<String> = certs.iter().map(|c| c.toml()).collect();
    Gateway::builder(TLS_PROXY)
        .var("UP", origin.addr())
        .var("CERTS", list.join(", "))
        .var("MIN", min)
        .var("HS", "500ms")
        .driver(driver)
        .start()
        .unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

each_driver!(
    curl_is_proxied_over_tls_with_the_https_scheme,
    keep_alive_and_pipelining_over_tls,
    large_bodies_both_ways_over_tls,
    upgrade_tunnel_over_tls,
    bad_request_gets_400_and_close_notify,
    wrk_over_tls_has_no_errors,
);

fn curl_is_proxied_over_tls_with_the_https_scheme(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, &origin, &[&cert], "1.2");
    let port = gw.addr("tls").port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/hello");
    let out = tools::curl(&[
        "--cacert",
        cert.cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        "-v",
        &url,
    ])
    .unwrap();
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(out.stderr.contains("TLSv1.3"), "{}", out.stderr);
    assert!(
        out.stderr.contains("ALPN: server accepted http/1.1"),
        "{}",
        out.stderr
    );
    let got = origin.last().unwrap();
    assert_eq!(got.target, "/hello");
    assert_eq!(got.header("x-forwarded-proto"), Some("https"));
    let fwd = got.header("forwarded").unwrap();
    assert!(fwd.contains("proto=https"), "{fwd}");
    // curl refuses a certificate it cannot verify for the name it asked for.
    let wrong = format!("wrong.test:{port}:127.0.0.1");
    let bad = tools::curl(&[
        "--cacert",
        cert.cert.to_str().unwrap(),
        "--resolve",
        &wrong,
        &format!("https://wrong.test:{port}/"),
    ])
    .unwrap();
    assert!(!bad.success);
    assert_eq!(bad.status, 0);
}

fn keep_alive_and_pipelining_over_tls(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, &origin, &[&cert], "1.2");
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    for i in 0..20 {
        let r = c.get("localhost", &format!("/k{i}")).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-echo-target"), Some(format!("/k{i}").as_str()));
        assert!(!r.closes());
    }
    // Three requests in one TLS record, answered in order.
    c.send(
        b"GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\nGET /p3 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    for want in ["/p1", "/p2", "/p3"] {
        let r = c.response().unwrap();
        assert_eq!(r.header("x-echo-target"), Some(want));
    }
    assert_eq!(origin.requests(), 23);
    assert_eq!(origin.connections(), 1, "upstream keep-alive behind TLS");
}

fn large_bodies_both_ways_over_tls(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, &origin, &[&cert], "1.2");
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    let body = pattern(1 << 20);
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = c.request(&req).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body.ends_with(&body),
        "echoed 1 MiB body differs: got {} bytes",
        r.body.len()
    );
    assert_eq!(origin.last().unwrap().body, body);
    let r = c.get("a", "/after").unwrap();
    assert_eq!(r.status, 200);
}

fn upgrade_tunnel_over_tls(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::upgrade_echo()).unwrap();
    let gw = start(driver, &origin, &[&cert], "1.2");
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly",
    )
    .unwrap();
    let r = c.head().unwrap();
    assert_eq!(r.status, 101);
    assert_eq!(c.read_exact(5).unwrap(), b"early");
    for msg in [&b"ping"[..], &pattern(200_000)[..]] {
        c.send(msg).unwrap();
        assert_eq!(c.read_exact(msg.len()).unwrap(), msg);
    }
}

fn bad_request_gets_400_and_close_notify(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, &origin, &[&cert], "1.2");
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let (bytes, clean) = c.read_to_close().unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(
        clean,
        "the gateway should end the TLS session with close_notify"
    );
    assert_eq!(origin.requests(), 0);
}

#[test]
fn sni_picks_the_certificate_and_unknown_names_get_the_first() {
    let a = TestCert::new(&["a.test"]).unwrap();
    let w = TestCert::new(&["*.w.test"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(Driver::Epoll, &origin, &[&a, &w], "1.2");
    let addr = gw.addr("tls");
    let both = [&a, &w];
    let c = TlsClient::connect(addr, "x.w.test", &both).unwrap();
    assert_eq!(c.peer_certificate().unwrap(), w.der);
    let c = TlsClient::connect(addr, "a.test", &both).unwrap();
    assert_eq!(c.peer_certificate().unwrap(), a.der);
    // A name no certificate covers gets the first one, which the client
    // rejects (it does not cover the name): the handshake fails.
    assert!(TlsClient::connect(addr, "other.test", &both).is_err());
    // Without SNI at all (openssl's -noservername) the first certificate comes back.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -noservername </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DNS:a.test"), "{text}");
}

#[test]
fn rsa_and_ecdsa_for_the_same_name_serve_each_client_what_it_verifies() {
    let ec = TestCert::new(&["localhost"]).unwrap();
    let rsa = TestCert::rsa(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(Driver::Epoll, &origin, &[&ec, &rsa], "1.2");
    let addr = gw.addr("tls");
    let c = TlsClient::connect(addr, "localhost", &[&ec, &rsa]).unwrap();
    assert_eq!(c.peer_certificate().unwrap(), ec.der, "ECDSA first");
    // A client that only accepts RSA signatures gets the RSA certificate.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -servername localhost -sigalgs RSA-PSS+SHA256:RSA+SHA256 </dev/null 2>/dev/null | openssl x509 -noout -text | grep 'Public Key Algorithm'"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rsaEncryption"), "{text}");
}

#[test]
fn versions_and_alpn_are_enforced() {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let tls12_only =
        client_config_versions(&[&cert], &[b"http/1.1"], &[&rustls::version::TLS12]).unwrap();
    // Default minimum (1.2): a 1.2-only client gets 1.2, others 1.3.
    let gw = start(Driver::Epoll, &origin, &[&cert], "1.2");
    let c = TlsClient::connect_with(gw.addr("tls"), "localhost", tls12_only.clone()).unwrap();
    assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(c.alpn().as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(c.get("a", "/").unwrap().status, 200);
    // ALPN without http/1.1 is refused (RFC 7301 §3.2); no ALPN at all is fine.
    let h2_only = client_config(&[&cert], &[b"h2"]).unwrap();
    assert!(TlsClient::connect_with(gw.addr("tls"), "localhost", h2_only).is_err());
    let no_alpn = client_config(&[&cert], &[]).unwrap();
    let mut c = TlsClient::connect_with(gw.addr("tls"), "localhost", no_alpn).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 200);
    drop(gw);
    // min_version = "1.3": a 1.2-only client cannot connect.
    let gw = start(Driver::Epoll, &origin, &[&cert], "1.3");
    assert!(TlsClient::connect_with(gw.addr("tls"), "localhost", tls12_only).is_err());
    assert!(TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).is_ok());
}

#[test]
fn silent_and_garbage_clients_are_dropped() {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(Driver::Epoll, &origin, &[&cert], "1.2");
    let addr = gw.addr("tls");
    // Connects and says nothing: closed after tls_handshake (500ms).
    let mut silent = Client::connect(addr).unwrap();
    silent.wait_closed(Duration::from_secs(3)).unwrap();
    // Cleartext HTTP on the TLS port: the handshake fails and the connection closes.
    let mut plain = Client::connect(addr).unwrap();
    plain.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let rest = plain.read_to_close().unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&rest).contains("HTTP/1.1"),
        "no HTTP answer on a TLS port"
    );
    // The gateway is fine afterwards.
    let mut c = TlsClient::connect(addr, "localhost", &[&cert]).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 200);
    assert_eq!(origin.requests(), 1);
}

#[test]
fn reload_swaps_certificates_and_refuses_broken_ones() {
    let first = TestCert::new(&["localhost"]).unwrap();
    let second = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(Driver::Epoll, &origin, &[&first], "1.2");
    let addr = gw.addr("tls");
    let mut old = TlsClient::connect(addr, "localhost", &[&first]).unwrap();
    assert_eq!(old.get("a", "/").unwrap().status, 200);
    let toml = |certs: String| {
        TLS_PROXY
            .replace("${CERTS}", &certs)
            .replace("${MIN}", "1.2")
            .replace("${HS}", "500ms")
            .replace("${UP}", &origin.addr().to_string())
    };
    gw.reload(&toml(second.toml())).unwrap();
    let c = TlsClient::connect(addr, "localhost", &[&first, &second]).unwrap();
    assert_eq!(c.peer_certificate().unwrap(), second.der);
    // The connection made before the reload keeps working.
    assert_eq!(old.get("a", "/again").unwrap().status, 200);
    // A key that does not match its certificate is refused; the second stays.
    let broken = format!(
        "{{ cert = {:?}, key = {:?} }}",
        second.cert.display().to_string(),
        first.key.display().to_string()
    );
    let err = gw.reload(&toml(broken)).unwrap_err().to_string();
    assert!(err.contains("does not match"), "{err}");
    let c = TlsClient::connect(addr, "localhost", &[&first, &second]).unwrap();
    assert_eq!(c.peer_certificate().unwrap(), second.der);
}

#[test]
fn graceful_stop_closes_idle_tls_connections() {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let mut gw = start(Driver::Epoll, &origin, &[&cert], "1.2");
    let mut c = TlsClient::connect(gw.addr("tls"), "localhost", &[&cert]).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 200);
    gw.shutdown();
    let (rest, _) = c.read_to_close().unwrap();
    assert!(rest.is_empty());
    gw.join();
}

fn wrk_over_tls_has_no_errors(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"hello world\n")).unwrap();
    let gw = start(driver, &origin, &[&cert], "1.2");
    let url = format!("https://127.0.0.1:{}/", gw.addr("tls").port());
    let report = tools::wrk(&url, 2, 20, 1).unwrap();
    assert!(report.requests > 500, "{}", report.output);
    assert_eq!(report.non_2xx_3xx, 0, "{}", report.output);
    assert_eq!(report.socket_errors, [0; 4], "{}", report.output);
}

/// The binary as operators run it: HTTPS from a config file, a certificate
/// renewed in place and picked up on SIGHUP, handshakes counted on /metrics
/// (its own process, so the counts are exact).
#[test]
fn binary_serves_https_renews_the_certificate_on_hup_and_counts_handshakes() {
    let first = TestCert::new(&["localhost"]).unwrap();
    let second = TestCert::new(&["localhost"]).unwrap();
    let dir = tools::TempDir::new("tls-bin").unwrap();
    let copy = |c: &TestCert| {
        std::fs::copy(&c.cert, dir.path().join("site.crt")).unwrap();
        std::fs::copy(&c.key, dir.path().join("site.key")).unwrap();
    };
    copy(&first);
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let cfg = format!(
        r#"
[admin]
address = "127.0.0.1:{admin}"
[server]
shards = 1
[server.timeouts]
tls_handshake = "300ms"
[[listener]]
name = "tls"
address = "127.0.0.1:{port}"
[listener.tls]
certificates = [{{ cert = "site.crt", key = "site.key" }}]
[[route]]
respond = {{ status = 200, body = "secure\n" }}
"#
    );
    let path = dir.write("gw.toml", &cfg).unwrap();
    let child = Running::start(&path, admin, &[], None).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/");
    let with = |c: &TestCert| {
        tools::curl(&[
            "--cacert",
            c.cert.to_str().unwrap(),
            "--resolve",
            &resolve,
            &url,
        ])
        .unwrap()
    };
    let out = with(&first);
    assert_eq!(
        (out.status, out.body_str().as_str()),
        (200, "secure\n"),
        "{}",
        out.stderr
    );
    // One client that never speaks: dropped after tls_handshake.
    let mut silent = Client::connect(addr).unwrap();
    silent.wait_closed(Duration::from_secs(3)).unwrap();
    let metrics = tools::curl(&[&format!("http://127.0.0.1:{admin}/metrics")])
        .unwrap()
        .body_str();
    assert_eq!(
        metric(&metrics, "shardgate_tls_handshakes_total"),
        1,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "shardgate_tls_handshake_failures_total"),
        1,
        "{metrics}"
    );

    // Renewal in place (as certbot does), then SIGHUP.
    copy(&second);
    child.signal("HUP").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || with(&second).status == 200),
        "the renewed certificate was not picked up"
    );
    assert_eq!(
        with(&first).status,
        0,
        "the old certificate is still served"
    );
    // A renewal that leaves a key not matching the certificate is refused.
    std::fs::copy(&first.key, dir.path().join("site.key")).unwrap();
    child.signal("HUP").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        with(&second).status,
        200,
        "a broken renewal must keep the running certificate"
    );
}

/// The sum of a counter's samples in Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
