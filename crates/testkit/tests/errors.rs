//! Error statuses: what a client gets for a bad request or a failing upstream,
//! that the connection closes where it must, and that the gateway keeps
//! serving new connections afterwards.

use std::time::{Duration, Instant};

use shardgate_testkit::{closed_addr, each_driver, handlers, Client, Driver, Gateway, Origin};

const CFG: &str = r#"
[server.timeouts]
header_read = "300ms"

[server.limits]
max_request_line = "1KiB"
max_header_bytes = "4KiB"
max_headers = 20
max_body_bytes = 1000

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
path_prefix = "/"
proxy = "origin"

[[route]]
path_prefix = "/refused/"
proxy = "refused"

[[route]]
path_prefix = "/hole/"
proxy = "hole"

[[route]]
hosts = ["static.test"]
respond = { status = 200, body = "static" }

[[route]]
hosts = ["only.test"]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]

[[upstream]]
name = "refused"
servers = ["${CLOSED}"]

[[upstream]]
name = "hole"
servers = ["${HOLE}"]
response_timeout = "300ms"
"#;

/// `n` chunks of `size` bytes each, then the last chunk.
fn chunked_body(n: usize, size: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for _ in 0..n {
        b.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        b.extend_from_slice(&vec![b'z'; size]);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"0\r\n\r\n");
    b
}

struct Env {
    origin: Origin,
    _hole: Origin,
    gw: Gateway,
}

fn env(driver: Driver, cfg: &str) -> Env {
    let origin = Origin::start(handlers::echo()).unwrap();
    let hole = Origin::start(handlers::black_hole()).unwrap();
    let gw = Gateway::builder(cfg)
        .var("UP", origin.addr())
        .var("CLOSED", closed_addr().unwrap())
        .var("HOLE", hole.addr())
        .driver(driver)
        .start()
        .unwrap();
    Env {
        origin,
        _hole: hole,
        gw,
    }
}

impl Env {
    fn client(&self) -> Client {
        Client::connect(self.gw.addr("public")).unwrap()
    }

    /// Sends `bytes` on a new connection; the response must have `status` and
    /// the connection must then close.
    fn rejects(&self, bytes: &[u8], status: u16) {
        let mut c = self.client();
        c.send(bytes).unwrap();
        let r = c.response().unwrap();
        assert_eq!(r.status, status, "for {:?}", String::from_utf8_lossy(bytes));
        assert!(
            r.closes(),
            "{status} must announce the close: {:?}",
            r.headers
        );
        c.wait_closed(Duration::from_secs(2)).unwrap_or_else(|e| {
            panic!(
                "not closed after {status} ({e}) for {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
        self.still_serves();
    }

    /// A new connection still gets a normal answer.
    fn still_serves(&self) {
        let mut c = self.client();
        let r = c.get("only.test", "/ok").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-echo-target"), Some("/ok"));
    }

    fn origin_never_saw(&self, target: &str) {
        assert!(
            !self.origin.received().iter().any(|r| r.target == target),
            "{target} reached the origin: {:?}",
            self.origin
                .received()
                .iter()
                .map(|r| &r.target)
                .collect::<Vec<_>>()
        );
    }
}

fn unknown_route_is_404(driver: Driver) {
    let e = env(
        driver,
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
hosts = ["only.test"]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#,
    );
    let mut c = e.client();
    let r = c.get("elsewhere.test", "/").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(c.get("only.test", "/x").unwrap().status, 200);
    assert_eq!(e.origin.requests(), 1);
}

fn upstream_refused_is_502(driver: Driver) {
    let e = env(driver, CFG);
    let mut c = e.client();
    let r = c.get("a", "/refused/x").unwrap();
    assert_eq!(r.status, 502);
    // Twice: the second attempt also fails cleanly (health backoff or not).
    let mut c = e.client();
    assert_eq!(c.get("a", "/refused/y").unwrap().status, 502);
    e.still_serves();
}

fn upstream_black_hole_is_504_after_response_timeout(driver: Driver) {
    let e = env(driver, CFG);
    let mut c = e.client();
    let t0 = Instant::now();
    let r = c.get("a", "/hole/x").unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status, 504);
    assert!(
        took >= Duration::from_millis(290),
        "504 came too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "504 came too late: {took:?}");
    e.still_serves();
}

fn slow_client_head_is_408(driver: Driver) {
    let e = env(driver, CFG);
    let mut c = e.client();
    c.send(b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Half: ")
        .unwrap();
    let t0 = Instant::now();
    let r = c.response().unwrap();
    assert_eq!(r.status, 408);
    assert!(t0.elapsed() < Duration::from_secs(3));
    c.wait_closed(Duration::from_secs(2)).unwrap();
    e.origin_never_saw("/slow");
    e.still_serves();
}

fn idle_connection_without_a_byte_is_just_closed(driver: Driver) {
    // No request started: nothing to answer, the connection just goes.
    let e = env(driver, CFG);
    let mut c = e.client();
    c.wait_closed(Duration::from_secs(3)).unwrap();
    e.still_serves();
}

fn stalled_request_body_is_408(driver: Driver) {
    let e = env(
        driver,
        &CFG.replace(
            "header_read = \"300ms\"",
            "header_read = \"300ms\"\nbody_read = \"300ms\"",
        ),
    );
    let mut c = e.client();
    c.send(b"POST /stall HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly part")
        .unwrap();
    let t0 = Instant::now();
    let r = c.response().unwrap();
    assert_eq!(r.status, 408);
    assert!(t0.elapsed() < Duration::from_secs(3));
    c.wait_closed(Duration::from_secs(2)).unwrap();
    assert!(e
        .origin
        .received()
        .iter()
        .all(|r| r.target != "/stall" || !r.complete));
    e.still_serves();
}

fn rejected_request_with_body_closes(driver: Driver) {
    // 404 for a request whose body was not read: the connection cannot go on.
    let e = env(
        driver,
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
hosts = ["only.test"]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#,
    );
    e.rejects(
        b"POST /x HTTP/1.1\r\nHost: other.test\r\nContent-Length: 5\r\n\r\nhello",
        404,
    );
}

fn oversized_heads_are_431_and_414(driver: Driver) {
    let e = env(driver, CFG);
    // One header pushing the head past 4 KiB.
    let big = format!(
        "GET /big HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(5000)
    );
    e.rejects(big.as_bytes(), 431);
    // Many small headers past 4 KiB, in several writes.
    let mut many = b"GET /many HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..19 {
        many.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "f".repeat(250)).as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    e.rejects(&many, 431);
    // 21 fields where 20 are allowed.
    let mut count = b"GET /count HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..20 {
        count.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    count.extend_from_slice(b"\r\n");
    e.rejects(&count, 431);
    // Exactly 20 fields is fine.
    let mut ok = b"GET /twenty HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..19 {
        ok.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    ok.extend_from_slice(b"\r\n");
    assert_eq!(e.client().request(&ok).unwrap().status, 200);
    // A request line over 1 KiB.
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "p".repeat(2000));
    e.rejects(long.as_bytes(), 414);
    e.origin_never_saw("/big");
    e.origin_never_saw("/many");
    e.origin_never_saw("/count");
}

fn malformed_requests_are_400_and_close(driver: Driver) {
    let e = env(driver, CFG);
    let cases: [&[u8]; 6] = [
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ];
    for bytes in cases {
        e.rejects(bytes, 400);
    }
}

fn unsupported_version_is_505(driver: Driver) {
    let e = env(driver, CFG);
    e.rejects(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    e.rejects(b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    e.rejects(b"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505);
}

/// RFC 9110 §2.5: a newer HTTP/1 minor version is served as HTTP/1.1, like
/// nginx and HAProxy do; pipelined, so the second head sits past the first.
fn newer_http1_minor_versions_are_served_as_1_1(driver: Driver) {
    let e = env(driver, CFG);
    let mut c = e.client();
    c.send(b"GET /v2 HTTP/1.2\r\nHost: a\r\n\r\nGET /v9 HTTP/1.9\r\nHost: a\r\n\r\n")
        .unwrap();
    for target in ["/v2", "/v9"] {
        let r = c.response().unwrap();
        assert_eq!((r.status, r.minor_version), (200, 1), "{target}");
        assert!(!r.closes(), "{target}: kept alive as HTTP/1.1");
    }
    // Read after both answers: the second may reach the origin before the
    // client has read the first.
    let got: Vec<_> = e
        .origin
        .received()
        .iter()
        .map(|r| (r.target.clone(), r.minor_version))
        .collect();
    assert_eq!(got, [("/v2".to_string(), 1), ("/v9".to_string(), 1)]);
    // Without Host it is an HTTP/1.1 request without Host.
    e.rejects(b"GET / HTTP/1.5\r\n\r\n", 400);
}

fn smuggling_attempts_are_400(driver: Driver) {
    let e = env(driver, CFG);
    let cases: [(&str, &[u8]); 7] = [
        ("CL+TE", b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("TE+CL", b"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n0\r\n\r\n"),
        ("duplicate CL", b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("CL list", b"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 40\r\n\r\nhello"),
        ("obs-fold", b"GET /s HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n"),
        ("bare LF", b"GET /s HTTP/1.1\nHost: a\n\n"),
        ("space before colon", b"GET /s HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"),
    ];
    for (name, bytes) in cases {
        let mut c = e.client();
        c.send(bytes).unwrap();
        let r = c.response().unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(r.status, 400, "{name}");
        c.wait_closed(Duration::from_secs(2))
            .unwrap_or_else(|err| panic!("{name}: not closed: {err}"));
        e.still_serves();
    }
    e.origin_never_saw("/smuggled");
    e.origin_never_saw("/s");
}

fn bad_chunk_size_is_400(driver: Driver) {
    let e = env(driver, CFG);
    for (name, bytes) in [
        ("not hex", &b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..]),
        ("overflow", b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        ("negative", b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
        ("missing CRLF", b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
        // A quoted extension hiding a CRLF: a recipient that reads quoted
        // strings ends this size line elsewhere ("funky chunks").
        ("CRLF in a quoted extension", b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"\r\nxx\r\n0\"\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("extension without a name", b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n"),
    ] {
        let mut c = e.client();
        c.send(bytes).unwrap();
        let r = c.response().unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(r.status, 400, "{name}");
        c.wait_closed(Duration::from_secs(2)).unwrap_or_else(|err| panic!("{name}: not closed: {err}"));
    }
    // The origin never got a complete request out of any of them.
    assert!(e
        .origin
        .received()
        .iter()
        .all(|r| r.target != "/c" || !r.complete));
    assert!(e.origin.received().iter().all(|r| r.target != "/smuggled"));
    e.still_serves();
}

fn unsupported_transfer_coding_is_501(driver: Driver) {
    let e = env(driver, CFG);
    e.rejects(
        b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

fn body_over_limit_is_413(driver: Driver) {
    let e = env(driver, CFG);
    // Announced length over max_body_bytes (1000): refused before reading it.
    let mut req = b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'x'; 2000]);
    e.rejects(&req, 413);
    e.origin_never_saw("/big");
    // Exactly at the limit is fine.
    let mut req = b"POST /fits HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'y'; 1000]);
    assert_eq!(e.client().request(&req).unwrap().status, 200);
    assert_eq!(e.origin.last().unwrap().body.len(), 1000);
}

fn chunked_body_over_limit_in_one_write_is_413(driver: Driver) {
    // The whole request arrives with the head, in the first read.
    let e = env(driver, CFG);
    let mut req =
        b"POST /bigchunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&chunked_body(3, 400));
    e.rejects(&req, 413);
    assert!(e
        .origin
        .received()
        .iter()
        .all(|r| r.target != "/bigchunks" || !r.complete));
}

fn chunked_body_over_limit_streamed_is_413(driver: Driver) {
    // The body trickles in after the head (the streaming path).
    let e = env(driver, CFG);
    let mut c = e.client();
    c.send(b"POST /bigchunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let body = chunked_body(3, 400);
    for piece in body.chunks(100) {
        std::thread::sleep(Duration::from_millis(5));
        if c.send(piece).is_err() {
            break; // the gateway may already have answered and closed
        }
    }
    let r = c.response().unwrap();
    assert_eq!(r.status, 413);
    c.wait_closed(Duration::from_secs(2)).unwrap();
    assert!(e
        .origin
        .received()
        .iter()
        .all(|r| r.target != "/bigchunks" || !r.complete));
    e.still_serves();
}

fn chunked_body_at_limit_is_accepted(driver: Driver) {
    // 1000 decoded bytes = max_body_bytes; the chunk framing around them
    // (sizes, CRLFs) is not body and must not count.
    let e = env(driver, CFG);
    let mut c = e.client();
    c.send(b"POST /fits HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let body = chunked_body(10, 100);
    for piece in body.chunks(100) {
        std::thread::sleep(Duration::from_millis(5));
        c.send(piece).unwrap();
    }
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(e.origin.last().unwrap().body.len(), 1000);
}

fn connect_is_501(driver: Driver) {
    let e = env(driver, CFG);
    e.rejects(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        501,
    );
}

fn expect_other_than_continue_is_417(driver: Driver) {
    let e = env(driver, CFG);
    e.rejects(
        b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\nx",
        417,
    );
}

each_driver!(
    unknown_route_is_404,
    upstream_refused_is_502,
    upstream_black_hole_is_504_after_response_timeout,
    slow_client_head_is_408,
    idle_connection_without_a_byte_is_just_closed,
    stalled_request_body_is_408,
    rejected_request_with_body_closes,
    oversized_heads_are_431_and_414,
    malformed_requests_are_400_and_close,
    unsupported_version_is_505,
    newer_http1_minor_versions_are_served_as_1_1,
    smuggling_attempts_are_400,
    bad_chunk_size_is_400,
    unsupported_transfer_coding_is_501,
    body_over_limit_is_413,
    chunked_body_over_limit_in_one_write_is_413,
    chunked_body_over_limit_streamed_is_413,
    chunked_body_at_limit_is_accepted,
    connect_is_501,
    expect_other_than_continue_is_417,
);
