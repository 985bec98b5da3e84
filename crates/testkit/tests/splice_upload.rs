//! Request bodies spliced between plain sockets (ADR 22, "Uploads"), on real
//! sockets with an in-process origin: Content-Length and chunked uploads
//! arrive byte for byte (chunk framing and trailers as sent) through curl and
//! a raw client; a request pipelined right behind a spliced body is served,
//! not eaten; a client that stalls mid-body meets `body_read`; `max_body_bytes` holds for
//! a chunk larger than what is left of it (nothing past the limit goes
//! upstream); a body kept for a retry (`buffer_body`) is copied; one too large to keep, or one that is
//! never retried (a POST), is spliced.
//!
//! The splice counter is per shard and the metrics recorder is process-wide,
//! so the tests of this file take turns (`TURN`) and measure differences.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shardgate_testkit::bytes::{chunked_wire, xorshift as pattern};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{
    each_driver, handler, tools, wait_until, After, Client, Driver, Gateway, Origin,
};

static TURN: Mutex<()> = Mutex::new(());

const SETTLE: Duration = Duration::from_secs(5);
/// What may be copied rather than spliced: the head buffer's first read
/// (16 KiB) and, at most, one more buffer.
const COPIED: usize = 64 * 1024;
const BIG: usize = 3 << 20;
/// Chunk sizes around the splice threshold (16 KiB), tiny ones between.
const CHUNKS: [usize; 7] = [300_000, 3, 70_000, 16_384, 16_385, 1, 1_000_000];

const GW: &str = r#"
[admin]
address = "127.0.0.1:0"

[server.timeouts]
body_read = "${BODY_READ}"

[server.limits]
max_body_bytes = "${MAX_BODY}"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"
${RETRY}

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

struct Setup {
    gw: Gateway,
    origin: Origin,
}

impl Setup {
    fn spliced(&self) -> f64 {
        let admin = self.gw.admin().expect("admin listener");
        scrape_sum(admin, "shardgate_spliced_bytes_total", &[])
    }

    fn addr(&self) -> SocketAddr {
        self.gw.addr("public")
    }
}

/// An origin that answers every request, after reading its whole body, with
/// the body's length.
fn start(driver: Driver, body_read: &str, retry: &str) -> Setup {
    start_limited(driver, body_read, retry, "1GiB")
}

fn start_limited(driver: Driver, body_read: &str, retry: &str, max_body: &str) -> Setup {
    let origin = Origin::start(handler(|req, r| {
        let len = req.body.len().to_string();
        r.write(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{len}",
                len.len()
            )
            .as_bytes(),
        )?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = Gateway::builder(GW)
        .var("UP", origin.addr())
        .var("BODY_READ", body_read)
        .var("RETRY", retry)
        .var("MAX_BODY", max_body)
        .driver(driver)
        .start()
        .unwrap();
    Setup { gw, origin }
}

fn chunks() -> Vec<Vec<u8>> {
    CHUNKS
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, 11 + i as u32))
        .collect()
}

fn post_head(path: &str, len: usize) -> Vec<u8> {
    head("POST", path, len)
}

fn head(method: &str, path: &str, len: usize) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: a\r\ncontent-length: {len}\r\n\r\n").into_bytes()
}

each_driver!(
    uploads_arrive_byte_exact_through_the_pipe,
    a_request_pipelined_behind_a_spliced_body_is_served,
    client_that_stalls_mid_upload_meets_body_read,
    a_body_kept_for_a_retry_is_copied_one_too_large_is_spliced,
    a_chunk_that_crosses_max_body_bytes_is_refused_before_it_moves,
    splice_off_copies_every_upload,
);

/// `[server] splice = false` (switched by reloads): uploads arrive
/// byte-exact and none goes through a pipe while it is off.
fn splice_off_copies_every_upload(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "30s", "");
    let off = GW.replace(
        "[server.timeouts]",
        "[server]\nsplice = false\n\n[server.timeouts]",
    );
    assert_ne!(off, GW);
    let body = pattern(BIG, 5);
    let mut c = Client::connect(s.addr()).unwrap();
    for (config, on) in [(GW, true), (off.as_str(), false), (GW, true)] {
        s.gw.reload(config).unwrap();
        let before = s.spliced();
        let mut req = post_head("/up", BIG);
        req.extend_from_slice(&body);
        let r = c.request(&req).unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        let got = s.origin.last().unwrap();
        assert!(got.complete && got.body == body, "body differs");
        let spliced = s.spliced() - before;
        if on {
            assert!(spliced >= (BIG - COPIED) as f64, "{spliced}");
        } else {
            assert_eq!(spliced, 0.0, "spliced with splice = false");
        }
    }
}

fn uploads_arrive_byte_exact_through_the_pipe(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "30s", "");
    let dir = tools::TempDir::new(&format!("splice-up-{driver}")).unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, pattern(BIG, 1)).unwrap();

    // curl, Content-Length.
    let before = s.spliced();
    let data = format!("@{}", file.display());
    let url = format!("http://{}/cl", s.addr());
    let out = tools::curl(&["--data-binary", &data, &url]).unwrap();
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert_eq!(out.body, BIG.to_string().as_bytes());
    let got = s.origin.last().unwrap();
    assert!(got.complete && got.body == pattern(BIG, 1), "body differs");
    let spliced = s.spliced() - before;
    assert!(
        spliced >= (BIG - COPIED) as f64 && spliced <= BIG as f64,
        "spliced {spliced} of {BIG}"
    );

    // A raw client on one kept-alive connection: chunked (framing and
    // trailers as sent), Content-Length, chunked again.
    let wire = chunked_wire(&chunks(), &[("x-sum", "7")]);
    let data: usize = CHUNKS.iter().sum();
    let mut c = Client::connect(s.addr()).unwrap();
    for round in 0..2 {
        let before = s.spliced();
        let mut req =
            b"POST /chunked HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(&wire);
        let r = c.request(&req).unwrap();
        assert_eq!((r.status, r.complete), (200, true), "round {round}");
        assert_eq!(r.body, data.to_string().as_bytes());
        let got = s.origin.last().unwrap();
        assert!(
            got.raw_body == wire,
            "chunk framing differs (round {round})"
        );
        assert_eq!(got.trailers.get("x-sum"), Some("7"));
        let spliced = s.spliced() - before;
        // The three chunks of ≥ 70,000 bytes at least, less what came with
        // the head.
        assert!(
            spliced >= (1_370_000 - COPIED) as f64 && spliced <= data as f64,
            "round {round}: spliced {spliced} of {data}"
        );

        let body = pattern(1 << 20, 3 + round);
        let mut req = post_head("/cl", body.len());
        req.extend_from_slice(&body);
        let r = c.request(&req).unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        assert!(s.origin.last().unwrap().body == body);
    }
    // The upstream connection went back to the pool after each body.
    assert!(
        s.origin.connections() <= 2,
        "{} upstream connections",
        s.origin.connections()
    );
}

fn a_request_pipelined_behind_a_spliced_body_is_served(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "30s", "");
    let before = s.spliced();
    // Content-Length, then chunked, each followed in the same write by a
    // GET: the splice must stop exactly at the body's end.
    let body = pattern(1 << 20, 5);
    let mut wire = post_head("/first", body.len());
    wire.extend_from_slice(&body);
    wire.extend_from_slice(b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    wire.extend_from_slice(
        b"POST /third HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n",
    );
    wire.extend_from_slice(&chunked_wire(&chunks(), &[("x-sum", "7")]));
    wire.extend_from_slice(b"GET /fourth HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut c = Client::connect(s.addr()).unwrap();
    c.send(&wire).unwrap();
    let data: usize = CHUNKS.iter().sum();
    for want in [body.len(), 0, data, 0] {
        let r = c.response().unwrap();
        assert_eq!((r.status, r.complete), (200, true));
        assert_eq!(r.body, want.to_string().as_bytes());
    }
    c.expect_silence(Duration::from_millis(100)).unwrap();
    let got = s.origin.received();
    let targets: Vec<_> = got.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/first", "/second", "/third", "/fourth"]);
    assert!(got[0].body == body);
    assert!(got[2].body == chunks().concat());
    assert!(
        s.spliced() - before >= (1 << 20) as f64,
        "the bodies were spliced"
    );
}

fn client_that_stalls_mid_upload_meets_body_read(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "400ms", "");
    let before = s.spliced();
    let mut c = TcpStream::connect(s.addr()).unwrap();
    let body = pattern(512 << 10, 9);
    c.write_all(&post_head("/stall", 2 << 20)).unwrap();
    c.write_all(&body).unwrap();
    let t0 = Instant::now();
    c.set_read_timeout(Some(SETTLE)).unwrap();
    // An answer (408) may come first; then the close (EOF or a reset).
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not closed: {e}"),
        }
    }
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    assert!(
        s.spliced() - before >= ((512 << 10) - COPIED) as f64,
        "the bytes before the stall were spliced"
    );
    // The origin got the bytes that came, then the connection closed: it
    // is not pooled with a body half sent.
    assert!(wait_until(SETTLE, || s.origin.open_connections() == 0));
    let got = s.origin.last().expect("the origin saw the request");
    assert!(!got.complete, "the origin must not see a complete body");
    assert!(
        body.starts_with(&got.body),
        "the bytes it got are the client's"
    );
}

fn a_body_kept_for_a_retry_is_copied_one_too_large_is_spliced(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start(driver, "30s", "[route.retry]\nbuffer_body = \"64KiB\"\n");
    let mut c = Client::connect(s.addr()).unwrap();
    // A PUT (idempotent, so retried) of 60 KiB fits the copy: every byte
    // goes through the buffer.
    let before = s.spliced();
    let small = pattern(60 << 10, 10);
    let mut req = head("PUT", "/kept", small.len());
    req.extend_from_slice(&small);
    let r = c.request(&req).unwrap();
    assert_eq!((r.status, r.complete), (200, true));
    assert!(s.origin.last().unwrap().body == small);
    assert_eq!(s.spliced() - before, 0.0, "a kept body is copied");
    // A POST is never sent again, so its body is not kept: spliced.
    let before = s.spliced();
    let mut req = post_head("/post", small.len());
    req.extend_from_slice(&small);
    let r = c.request(&req).unwrap();
    assert_eq!((r.status, r.complete), (200, true));
    assert!(s.origin.last().unwrap().body == small);
    assert!(s.spliced() - before >= ((60 << 10) - COPIED / 4) as f64);
    // A PUT of 2 MiB cannot be kept: it is spliced.
    let before = s.spliced();
    let big = pattern(2 << 20, 12);
    let mut req = head("PUT", "/big", big.len());
    req.extend_from_slice(&big);
    let r = c.request(&req).unwrap();
    assert_eq!((r.status, r.complete), (200, true));
    assert!(s.origin.last().unwrap().body == big);
    assert!(s.spliced() - before >= ((2 << 20) - COPIED) as f64);
}

fn a_chunk_that_crosses_max_body_bytes_is_refused_before_it_moves(driver: Driver) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = start_limited(driver, "30s", "", "256KiB");
    let head = b"POST /limited HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n";
    // Under the limit: 200 KiB in one chunk is spliced and arrives whole.
    let before = s.spliced();
    let fits = vec![pattern(200 << 10, 21)];
    let mut c = Client::connect(s.addr()).unwrap();
    let mut req = head.to_vec();
    req.extend_from_slice(&chunked_wire(&fits, &[]));
    let r = c.request(&req).unwrap();
    assert_eq!((r.status, r.complete), (200, true));
    assert!(s.origin.last().unwrap().body == fits[0]);
    assert!(s.spliced() - before >= ((200 << 10) - COPIED) as f64);
    // 100 KiB, then one chunk of 1 MiB: the body would pass 256 KiB, so
    // the second chunk is refused before any of it goes upstream.
    let before = s.spliced();
    let over = vec![pattern(100 << 10, 22), pattern(1 << 20, 23)];
    let mut c = Client::connect(s.addr()).unwrap();
    let mut req = head.to_vec();
    req.extend_from_slice(&chunked_wire(&over, &[]));
    c.send(&req).unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 413);
    c.wait_closed(SETTLE).unwrap();
    assert!(wait_until(SETTLE, || s.origin.open_connections() == 0));
    let got = s.origin.last().unwrap();
    assert_eq!(got.target, "/limited");
    assert!(!got.complete, "the origin must not see a complete body");
    assert!(
        got.body.len() <= 256 << 10,
        "{} body bytes went upstream, over the limit",
        got.body.len()
    );
    assert!(
        s.spliced() - before <= (100 << 10) as f64,
        "spliced {} bytes: the large chunk moved",
        s.spliced() - before
    );
}
