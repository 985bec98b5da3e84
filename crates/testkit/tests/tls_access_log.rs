//! TLS connections in the access log (version and SNI, from the handshake
//! the gateway drives itself), and no request byte lost at the hand-over
//! from that handshake to the encrypted stream.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;
use shardgate_testkit::tls::{client_config, client_config_versions};
use shardgate_testkit::{each_driver, tools, Driver, Gateway, TestCert, TlsClient};

const CONFIG: &str = r#"
[access_log]
path = "${LOG}"
format = "json"

[[listener]]
name = "tls"
address = "127.0.0.1:0"
[listener.tls]
certificates = [${CERT}]
min_version = "1.2"

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn start(driver: Driver, cert: &TestCert, log: &std::path::Path) -> Gateway {
    Gateway::builder(CONFIG)
        .var("CERT", cert.toml())
        .var("LOG", log.display())
        .driver(driver)
        .start()
        .unwrap()
}

fn lines(log: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn log_names_the_tls_version_and_sni(driver: Driver) {
    let dir = tools::TempDir::new("tls-alog").unwrap();
    let log = dir.path().join("access.log");
    let cert = TestCert::new(&["a.example"]).unwrap();
    let mut gw = start(driver, &cert, &log);
    let mut c13 = TlsClient::connect(gw.addr("tls"), "a.example", &[&cert]).unwrap();
    assert_eq!(c13.get("a.example", "/13").unwrap().status, 200);
    let v12 = client_config_versions(&[&cert], &[b"http/1.1"], &[&rustls::version::TLS12]).unwrap();
    let mut c12 = TlsClient::connect_with(gw.addr("tls"), "a.example", v12).unwrap();
    assert_eq!(c12.get("a.example", "/12").unwrap().status, 200);
    gw.stop();
    let l = lines(&log);
    assert_eq!(l.len(), 2, "{l:#?}");
    for (line, version, path) in [(&l[0], "TLSv1.3", "/13"), (&l[1], "TLSv1.2", "/12")] {
        assert_eq!(line["path"], path, "{line}");
        assert_eq!(line["tls"], true, "{line}");
        assert_eq!(line["tls_version"], version, "{line}");
        assert_eq!(line["sni"], "a.example", "{line}");
    }
}

/// A client that queues its request before the handshake ends sends it in
/// the same flight as its Finished; the handshake must not swallow it.
fn request_sent_with_the_clients_finished_is_not_lost(driver: Driver) {
    let dir = tools::TempDir::new("tls-early").unwrap();
    let cert = TestCert::new(&["a.example"]).unwrap();
    let mut gw = start(driver, &cert, &dir.path().join("access.log"));
    let mut sock = TcpStream::connect(gw.addr("tls")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from("a.example").unwrap();
    let mut conn = ClientConnection::new(client_config(&[&cert], &[]).unwrap(), name).unwrap();
    // 40 KB: several records, well past what one read of the Finished takes.
    let body = vec![b'x'; 40_000];
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"GET /second HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n");
    conn.writer().write_all(&req).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock).unwrap();
    }
    let mut all = Vec::new();
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    let _ = stream.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert_eq!(
        text.matches("HTTP/1.1 200").count(),
        2,
        "both requests answered: {text}"
    );
    gw.stop();
}

each_driver!(
    log_names_the_tls_version_and_sni,
    request_sent_with_the_clients_finished_is_not_lost,
);
