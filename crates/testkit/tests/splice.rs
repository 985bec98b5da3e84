//! Response bodies spliced between plain sockets (ADR 22), on real sockets
//! with an in-process origin: every framing (Content-Length, chunked with
//! large and tiny chunks and trailers, close-delimited, chunked de-chunked
//! for an HTTP/1.0 client) arrives byte for byte through curl and a raw
//! client, on kept-alive connections at both ends; the bytes went through
//! the pipe (`shardgate_spliced_bytes_total`) and the access log counts
//! them; a client that leaves or stops reading and an upstream that stalls
//! mid-body end the transfer under their limits; TLS clients keep the
//! copying path.
//!
//! The splice counter is per shard and the metrics recorder is process-wide,
//! so the tests of this file take turns (`TURN`) and measure differences.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use shardgate_testkit::bytes::{chunked_wire, xorshift as pattern};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{
    each_driver, handler, handlers, tools, wait_until, After, Client, Driver, Gate, Gateway,
    Origin, TestCert, TlsClient,
};

static TURN: Mutex<()> = Mutex::new(());

const SETTLE: Duration = Duration::from_secs(5);
/// The gateway's streaming buffer: the first read of a response (head and
/// first body bytes) is copied through it, the rest may be spliced.
const FIRST_READ: u64 = 64 * 1024;
const BIG: usize = 3 << 20;
const CLOSE_LEN: usize = 2 << 20;
/// Chunk sizes around the splice threshold (16 KiB) and the framing read
/// after a spliced run (1 KiB), tiny ones between, and one large chunk.
const CHUNKS: [usize; 9] = [300_000, 3, 70_000, 16_384, 16_385, 1, 17_500, 1_000_000, 5];

const GW: &str = r#"
[admin]
address = "127.0.0.1:0"

[server.timeouts]
send = "${SEND}"

[access_log]
path = "${LOG}"
format = "json"

[[listener]]
name = "public"
address = "127.0.0.1:0"
${TLS}
[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
read_timeout = "${READ}"
"#;

const TLS_LISTENER: &str = r#"
[[listener]]
name = "tls"
address = "127.0.0.1:0"
[listener.tls]
certificates = [${CERTS}]
"#;

struct Setup {
    gw: Gateway,
    origin: Origin,
    log: std::path::PathBuf,
    _dir: tools::TempDir,
}

impl Setup {
    fn spliced(&self) -> f64 {
        let admin = self.gw.admin().expect("admin listener");
        scrape_sum(admin, "shardgate_spliced_bytes_total", &[])
    }

    fn addr(&self) -> SocketAddr {
        self.gw.addr("public")
    }

    /// The access log's line for `path` (waits for it).
    fn line(&self, path: &str) -> Value {
        let mut found = None;
        wait_until(SETTLE, || {
            found = read_json(&self.log)
                .into_iter()
                .rev()
                .find(|l| l["path"] == path);
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no log line for {path}"))
    }
}

fn read_json(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn chunks() -> Vec<Vec<u8>> {
    CHUNKS
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, 7 + i as u32))
        .collect()
}

/// `/cl` (Content-Length, 3 MiB), `/chunked`, `/close` (close-delimited,
/// 2 MiB), `/huge` (64 MiB), `/stall` (8 MiB announced, 1 MiB sent, then
/// nothing until `stall` opens), `/small` (1000 bytes).
fn origin(stall: Gate) -> Origin {
    let cl = handlers::content_length(pattern(BIG, 1));
    let chunked = handlers::chunked(chunks(), vec![("x-sum".into(), "7".into())]);
    let close = handlers::close_delimited("HTTP/1.1", pattern(CLOSE_LEN, 3));
    let huge = handlers::content_length(pattern(64 << 20, 4));
    let small = handlers::content_length(pattern(1000, 5));
    Origin::start(handler(move |req, r| match req.target.as_str() {
        "/cl" => cl(req, r),
        "/chunked" => chunked(req, r),
        "/close" => close(req, r),
        "/huge" => huge(req, r),
        "/stall" => {
            let mut out = b"HTTP/1.1 200 OK\r\ncontent-length: 8388608\r\n\r\n".to_vec();
            out.extend_from_slice(&pattern(1 << 20, 6));
            r.write(&out)?;
            stall.wait(Duration::from_secs(10));
            Ok(After::Close)
        }
        _ => small(req, r),
    }))
    .unwrap()
}

fn start(driver: Driver, name: &str, tls: Option<&TestCert>, send: &str, read: &str) -> Setup {
    start_with(driver, name, tls, send, read, Gate::new())
}

fn start_with(
    driver: Driver,
    name: &str,
    tls: Option<&TestCert>,
    send: &str,
    read: &str,
    stall: Gate,
) -> Setup {
    let dir = tools::TempDir::new(&format!("splice-{name}-{driver}")).unwrap();
    let log = dir.path().join("access.log");
    let origin = origin(stall);
    let tls_listener = tls
        .map(|c| TLS_LISTENER.replace("${CERTS}", &c.toml()))
        .unwrap_or_default();
    let gw = Gateway::builder(GW)
        .var("LOG", log.display())
        .var("UP", origin.addr())
        .var("SEND", send)
        .var("READ", read)
        .var("TLS", tls_listener)
        .driver(driver)
        .start()
        .unwrap();
    Setup {
        gw,
        origin,
        log,
        _dir: dir,
    }
}

each_driver!(
    every_framing_arrives_byte_exact_through_the_pipe,
    http10_client_gets_chunk_data_spliced_and_dechunked,
    access_log_counts_spliced_bytes,
    client_that_leaves_mid_body_ends_the_transfer,
    client_that_stops_reading_hits_the_send_timeout,
    upstream_that_stalls_mid_body_hits_the_read_timeout,
    bytes_past_a_spliced_body_are_cut_and_not_pooled,
    tls_clients_keep_the_copying_path,
    tls_client_that_stops_reading_is_reset,
    splice_off_copies_every_body,
);

/// `[server] splice = false`, switched on and off by reloads: the same
/// bodies arrive byte-exact and none goes through a pipe while it is off.
fn splice_off_copies_every_body(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "off", None, "30s", "30s");
    let off = GW.replace(
        "[server.timeouts]",
        "[server]\nsplice = false\n\n[server.timeouts]",
    );
    assert_ne!(off, GW);
    let mut c = Client::connect(s.addr()).unwrap();
    for (config, on) in [(GW, true), (off.as_str(), false), (GW, true)] {
        s.gw.reload(config).unwrap();
        let before = s.spliced();
        let r = c.get("a", "/cl").unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        assert!(r.body == pattern(BIG, 1), "Content-Length body differs");
        let r = c.get("a", "/chunked").unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        assert!(
            r.raw_body == chunked_wire(&chunks(), &[("x-sum", "7")]),
            "chunk framing differs"
        );
        let spliced = s.spliced() - before;
        if on {
            assert!(spliced >= (BIG as u64 - FIRST_READ) as f64, "{spliced}");
        } else {
            assert_eq!(spliced, 0.0, "spliced with splice = false");
        }
    }
}

fn every_framing_arrives_byte_exact_through_the_pipe(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "framing", None, "30s", "30s");
    let url = |p: &str| format!("http://{}{p}", s.addr());

    // curl, one connection per body.
    let before = s.spliced();
    let out = tools::curl(&[&url("/cl")]).unwrap();
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(out.body == pattern(BIG, 1), "Content-Length body differs");
    let spliced = s.spliced() - before;
    assert!(
        spliced >= (BIG as u64 - FIRST_READ) as f64 && spliced <= BIG as f64,
        "spliced {spliced} of {BIG}"
    );

    let before = s.spliced();
    let out = tools::curl(&[&url("/close")]).unwrap();
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(
        out.body == pattern(CLOSE_LEN, 3),
        "close-delimited body differs"
    );
    let spliced = s.spliced() - before;
    assert!(
        spliced >= (CLOSE_LEN as u64 - FIRST_READ) as f64 && spliced <= CLOSE_LEN as f64,
        "spliced {spliced} of {CLOSE_LEN}"
    );

    let before = s.spliced();
    let out = tools::curl(&[&url("/chunked")]).unwrap();
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(out.body == chunks().concat(), "chunked body differs");
    // The two large chunks at least, less the first read.
    let spliced = s.spliced() - before;
    let data: usize = CHUNKS.iter().sum();
    assert!(
        spliced >= (1_300_000 - FIRST_READ) as f64 && spliced <= data as f64,
        "spliced {spliced} of {data}"
    );

    // One kept-alive client connection through all of them (close last):
    // the chunk framing and trailers arrive as the origin wrote them.
    let mut c = Client::connect(s.addr()).unwrap();
    for _ in 0..2 {
        let r = c.get("a", "/cl").unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        assert!(r.body == pattern(BIG, 1));
        let r = c.get("a", "/chunked").unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        assert!(
            r.raw_body == chunked_wire(&chunks(), &[("x-sum", "7")]),
            "chunk framing differs"
        );
        assert_eq!(r.trailers.get("x-sum"), Some("7"));
        let r = c.get("a", "/small").unwrap();
        assert_eq!(r.body, pattern(1000, 5));
    }
    let r = c.get("a", "/close").unwrap();
    assert!(r.complete && r.body == pattern(CLOSE_LEN, 3));
    assert!(
        r.closes(),
        "a close-delimited body ends the client connection"
    );
    c.wait_closed(SETTLE).unwrap();
    // The upstream connection went back to the pool after each spliced
    // body: the curl requests and the six kept-alive ones used one or two
    // connections, the close-delimited responses one each.
    assert!(
        s.origin.connections() <= 5,
        "{} upstream connections",
        s.origin.connections()
    );
}

fn http10_client_gets_chunk_data_spliced_and_dechunked(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "http10", None, "30s", "30s");
    let before = s.spliced();
    let out = tools::curl(&["--http1.0", &format!("http://{}/chunked", s.addr())]).unwrap();
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(out.body == chunks().concat(), "de-chunked body differs");
    assert!(s.spliced() - before >= (1_300_000 - FIRST_READ) as f64);
}

fn access_log_counts_spliced_bytes(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "log", None, "30s", "30s");
    for path in ["/cl", "/chunked", "/close"] {
        let before = s.spliced();
        let mut c = Client::connect(s.addr()).unwrap();
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
        let all = c.read_to_close().unwrap();
        let l = s.line(path);
        assert_eq!(l["status"], 200, "{l}");
        assert_eq!(l["bytes_sent"], all.len(), "{path}: {l}");
        assert!(l.get("error").is_none(), "{l}");
        assert!(s.spliced() - before >= 1_000_000.0, "{path} was spliced");
    }
}

fn client_that_leaves_mid_body_ends_the_transfer(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "leave", None, "30s", "30s");
    let before = s.spliced();
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.write_all(b"GET /huge HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut got = vec![0u8; 2 << 20];
    c.read_exact(&mut got).unwrap();
    // Unread bytes in its receive queue: the close is a reset.
    drop(c);
    let l = s.line("/huge");
    assert_eq!(l["status"], 200, "{l}");
    assert_eq!(l["error"], "client_closed", "{l}");
    let sent = l["bytes_sent"].as_u64().unwrap();
    assert!((2 << 20..64 << 20).contains(&sent), "{l}");
    assert!(s.spliced() - before >= (1 << 20) as f64, "it was spliced");
    // The upstream connection is closed, not pooled with a body in flight.
    assert!(
        wait_until(SETTLE, || s.origin.open_connections() == 0),
        "{} upstream connections open",
        s.origin.open_connections()
    );
    // The next body goes through a pipe again, intact.
    let before = s.spliced();
    let out = tools::curl(&[&format!("http://{}/cl", s.addr())]).unwrap();
    assert!(out.body == pattern(BIG, 1));
    assert!(s.spliced() - before >= (BIG as u64 - FIRST_READ) as f64);
}

fn client_that_stops_reading_hits_the_send_timeout(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "stuck", None, "500ms", "30s");
    let before = s.spliced();
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.write_all(b"GET /huge HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    // Reads nothing: the socket buffers fill, then no progress for 500 ms.
    let l = s.line("/huge");
    assert_eq!(l["error"], "client_closed", "{l}");
    // The close was a reset: the gateway's socket keeps none of the unsent
    // response in FIN-WAIT-1 (megabytes of kernel memory per slow reader).
    closed_without_lingering(s.addr().port());
    c.set_read_timeout(Some(SETTLE)).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let reset = loop {
        match c.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("{e} after {total} bytes"),
        }
    };
    assert!(reset, "closed with a FIN after {total} bytes, not a reset");
    assert!(total < 64 << 20, "got everything ({total} bytes)");
    assert!(s.spliced() - before > 0.0, "it was spliced");
    assert!(
        wait_until(SETTLE, || s.origin.open_connections() == 0),
        "upstream connection left open"
    );
}

fn upstream_that_stalls_mid_body_hits_the_read_timeout(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let stall = Gate::new();
    let s = start_with(driver, "stall", None, "30s", "400ms", stall.clone());
    let before = s.spliced();
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(SETTLE)).unwrap();
    let t0 = Instant::now();
    c.write_all(b"GET /stall HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    let r = c.read_to_end(&mut all);
    let took = t0.elapsed();
    stall.open();
    assert!(r.is_ok() || all.len() > 1 << 20, "{r:?}");
    let head_end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert!(all.starts_with(b"HTTP/1.1 200"));
    assert!(
        all[head_end..] == pattern(1 << 20, 6),
        "the bytes before the stall, intact ({} body bytes)",
        all.len() - head_end
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    let l = s.line("/stall");
    assert_eq!(l["error"], "upstream_timeout", "{l}");
    assert_eq!(l["bytes_sent"], all.len(), "{l}");
    assert!(
        s.spliced() - before >= ((1 << 20) - FIRST_READ) as f64,
        "the bytes before the stall were spliced"
    );
}

fn bytes_past_a_spliced_body_are_cut_and_not_pooled(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let body = pattern(1 << 20, 8);
    let mut wire =
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    wire.extend_from_slice(&body);
    // A second response nobody asked for, in the same write.
    wire.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged");
    let origin = Origin::start(handler(move |_, r| {
        r.write(&wire)?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let dir = tools::TempDir::new(&format!("splice-past-{driver}")).unwrap();
    let gw = Gateway::builder(GW)
        .var("LOG", dir.path().join("access.log").display())
        .var("UP", origin.addr())
        .var("SEND", "30s")
        .var("READ", "30s")
        .var("TLS", "")
        .driver(driver)
        .start()
        .unwrap();
    let admin = gw.admin().expect("admin listener");
    let before = scrape_sum(admin, "shardgate_spliced_bytes_total", &[]);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..2 {
        let r = c.get("a", "/").unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        assert!(r.body == body, "{} bytes", r.body.len());
    }
    c.expect_silence(Duration::from_millis(100)).unwrap();
    assert!(
        scrape_sum(admin, "shardgate_spliced_bytes_total", &[]) - before
            >= 2.0 * ((1 << 20) - FIRST_READ) as f64,
        "both bodies were spliced"
    );
    // The connection with bytes after the body was not reused.
    assert_eq!(origin.connections(), 2);
}

/// The gateway closed every connection of its listener on `port`, and none
/// lingers in FIN-WAIT-1 with an unsent response (it was reset).
fn closed_without_lingering(port: u16) {
    let in_state = |state: &str| {
        let out = std::process::Command::new("ss")
            .args(["-Htn", "state", state, &format!("( sport = :{port} )")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(
        wait_until(SETTLE, || in_state("established") == 0),
        "the gateway kept the connection"
    );
    assert_eq!(
        in_state("fin-wait-1"),
        0,
        "the timed-out connection lingers"
    );
}

/// A TLS client that stops reading is reset as a cleartext one is.
fn tls_client_that_stops_reading_is_reset(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let s = start(driver, "tlsstuck", Some(&cert), "500ms", "30s");
    let mut c = TlsClient::connect(s.gw.addr("tls"), "localhost", &[&cert]).unwrap();
    c.send(b"GET /huge HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let l = s.line("/huge");
    assert_eq!(l["error"], "client_closed", "{l}");
    closed_without_lingering(s.gw.addr("tls").port());
}

fn tls_clients_keep_the_copying_path(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let s = start(driver, "tls", Some(&cert), "30s", "30s");
    let before = s.spliced();
    let mut c = TlsClient::connect(s.gw.addr("tls"), "localhost", &[&cert]).unwrap();
    let r = c.get("localhost", "/cl").unwrap();
    assert!(r.complete && r.body == pattern(BIG, 1));
    let r = c.get("localhost", "/chunked").unwrap();
    assert!(r.complete && r.raw_body == chunked_wire(&chunks(), &[("x-sum", "7")]));
    assert_eq!(
        s.spliced() - before,
        0.0,
        "nothing spliced into a TLS stream"
    );
}
