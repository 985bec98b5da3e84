//! Lingering close (as nginx's `lingering_close on`): when the gateway ends
//! a connection whose client may still be sending (a refused upload, a
//! malformed request, requests pipelined past a `Connection: close`), it
//! closes its sending side and reads and drops what comes for a while
//! instead of closing at once. A close with unread bytes makes the kernel
//! send a reset and throw away whatever of the responses is still queued:
//! the client lost the earlier pipelined response's tail and the error
//! answer. Both drivers, a client with a small receive buffer that reads
//! only after it has sent everything.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use shardgate_testkit::origin::handlers;
use shardgate_testkit::tls::{client_config, TestCert};
use shardgate_testkit::{each_driver, wait_until, Driver, Gateway, Origin};
use socket2::{Domain, Socket, Type};

const BIG: usize = 1 << 20;

const GW: &str = r#"
[server.limits]
max_body_bytes = "1KiB"

[server.timeouts]
lingering_time = "${TIME}"
lingering_timeout = "${GAP}"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[listener]]
name = "tls"
address = "127.0.0.1:0"
[listener.tls]
certificates = [${CERTS}]

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn body() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

struct Setup {
    gw: Gateway,
    origin: Origin,
    cert: TestCert,
}

fn gateway(driver: Driver, time: &str, gap: &str) -> Setup {
    let origin = Origin::start(handlers::content_length(body())).unwrap();
    let cert = TestCert::new(&["localhost"]).unwrap();
    let gw = Gateway::builder(GW)
        .var("UP", origin.addr())
        .var("TIME", time)
        .var("GAP", gap)
        .var("CERTS", cert.toml())
        .driver(driver)
        .start()
        .unwrap();
    Setup { gw, origin, cert }
}

/// A client whose receive buffer holds a few KiB: most of a 1 MiB response
/// waits in the gateway's send queue until the client reads.
fn small_window(addr: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(8192).unwrap();
    s.connect(&addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Everything the gateway sends until it closes; a reset ends it too (what
/// came before it is kept).
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = vec![0u8; 65536];
    loop {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
}

/// Splits `raw` into (status, body) responses framed by content-length.
fn responses(mut raw: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let rest = &raw[end + 4..];
        let take = len.min(rest.len());
        out.push((status, rest[..take].to_vec()));
        raw = &rest[take..];
    }
    out
}

/// Sends `second` pipelined behind a GET of the 1 MiB body, then 64 KiB
/// more that nobody reads; reads only afterwards.
fn pipeline_after_big(addr: SocketAddr, second: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut s = small_window(addr);
    let mut wire = b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    wire.extend_from_slice(second);
    s.write_all(&wire).unwrap();
    // Give the gateway time to answer both and close; then more bytes
    // arrive (an upload going on), which it must not answer with a reset.
    std::thread::sleep(Duration::from_millis(300));
    let _ = s.write_all(&[b'z'; 65536]);
    std::thread::sleep(Duration::from_millis(300));
    responses(&read_all(&mut s))
}

each_driver!(
    a_refused_upload_loses_no_response,
    a_malformed_request_loses_no_response,
    requests_past_a_close_lose_no_response,
    a_tls_client_loses_no_response,
    lingering_ends_when_the_client_goes_quiet,
    lingering_ends_at_its_total_limit,
);

fn check_big_then(got: &[(u16, Vec<u8>)], second: u16) {
    assert!(!got.is_empty(), "nothing came back");
    assert_eq!(got[0].0, 200);
    assert!(
        got[0].1 == body(),
        "the first response arrived cut short: {} of {BIG} bytes",
        got[0].1.len()
    );
    assert_eq!(
        got.iter().map(|r| r.0).collect::<Vec<_>>(),
        [200, second],
        "both answers arrive"
    );
}

fn a_refused_upload_loses_no_response(driver: Driver) {
    let Setup { gw, origin: _o, .. } = gateway(driver, "30s", "5s");
    let got = pipeline_after_big(
        gw.addr("public"),
        b"POST /up HTTP/1.1\r\nHost: a\r\ncontent-length: 10000000\r\n\r\n",
    );
    check_big_then(&got, 413);
}

fn a_malformed_request_loses_no_response(driver: Driver) {
    let Setup { gw, origin: _o, .. } = gateway(driver, "30s", "5s");
    let got = pipeline_after_big(gw.addr("public"), b"NOT HTTP AT ALL\r\n\r\n");
    check_big_then(&got, 400);
}

fn requests_past_a_close_lose_no_response(driver: Driver) {
    let Setup { gw, origin, .. } = gateway(driver, "30s", "5s");
    let mut s = small_window(gw.addr("public"));
    s.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = s.write_all(&[b'z'; 65536]);
    std::thread::sleep(Duration::from_millis(300));
    let got = responses(&read_all(&mut s));
    assert_eq!(got.len(), 1, "one answer, then the close");
    assert_eq!(got[0].0, 200);
    assert!(got[0].1 == body(), "cut short: {} bytes", got[0].1.len());
    assert_eq!(origin.requests(), 1, "nothing after the close is served");
}

fn active(gw: &Gateway) -> u64 {
    gw.shard_stats().iter().map(|s| s.active).sum()
}

/// A client that got its answer and neither sends nor closes: the gateway
/// gives up after `lingering_timeout` (2 s: a margin for a loaded machine
/// between the FIN and the first look).
fn lingering_ends_when_the_client_goes_quiet(driver: Driver) {
    let Setup { gw, origin: _o, .. } = gateway(driver, "30s", "2s");
    let mut s = small_window(gw.addr("public"));
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\ncontent-length: 5000\r\n\r\n")
        .unwrap();
    s.write_all(&[b'y'; 3000]).unwrap();
    let got = responses(&read_all(&mut s));
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [413]);
    // The answer ended with a FIN while the gateway still reads.
    let fin = Instant::now();
    assert_eq!(active(&gw), 1, "still lingering right after the FIN");
    assert!(
        wait_until(Duration::from_secs(5), || active(&gw) == 0),
        "still open 5 s after the client went quiet"
    );
    let waited = fin.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "closed after {waited:?}: it did not wait for the client"
    );
}

/// A client that keeps sending after its answer cannot hold the
/// connection past `lingering_time`.
fn lingering_ends_at_its_total_limit(driver: Driver) {
    let Setup { gw, origin: _o, .. } = gateway(driver, "2s", "1s");
    let mut s = small_window(gw.addr("public"));
    s.write_all(b"POST /up HTTP/1.1\r\nHost: a\r\ncontent-length: 100000000\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let mut refused = None;
    while start.elapsed() < Duration::from_secs(8) {
        if s.write_all(&[b'x'; 1000]).is_err() {
            refused = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = refused.expect("the gateway still took bytes after 8 s");
    assert!(
        after >= Duration::from_millis(1500),
        "cut off after {after:?}, before lingering_time"
    );
    assert!(wait_until(Duration::from_secs(2), || active(&gw) == 0));
    let got = responses(&read_all(&mut s));
    assert_eq!(got.first().map(|r| r.0), Some(413), "the answer came first");
}

/// The same over TLS: the gateway sends `close_notify` and its FIN, then
/// reads (and drops) the records that still come.
fn a_tls_client_loses_no_response(driver: Driver) {
    let s = gateway(driver, "30s", "5s");
    let tcp = small_window(s.gw.addr("tls"));
    let name = ServerName::try_from("localhost").unwrap();
    let config = client_config(&[&s.cert], &[b"http/1.1"]).unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(
        b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n\
          POST /up HTTP/1.1\r\nHost: localhost\r\ncontent-length: 10000000\r\n\r\n",
    )
    .unwrap();
    tls.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = tls.write_all(&[b'z'; 65536]).and_then(|()| tls.flush());
    std::thread::sleep(Duration::from_millis(300));
    let mut raw = Vec::new();
    let mut b = vec![0u8; 65536];
    loop {
        match tls.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&b[..n]),
        }
    }
    check_big_then(&responses(&raw), 413);
}
