//! Message framing through the proxy, both directions: Content-Length,
//! chunked (with trailers), close-delimited, HEAD, 204/304, 1xx, 100-continue
//! and the upgrade tunnel. Bodies are compared byte for byte at the far end.

use std::time::Duration;

use shardgate_testkit::{
    each_driver, handler, handlers, tools, After, Client, Driver, Framing, Gateway, Origin,
};

const PROXY: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn gateway(driver: Driver, origin: &Origin) -> Gateway {
    Gateway::builder(PROXY)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap()
}

/// Deterministic bytes that are not a repeating short pattern (so a dropped
/// or duplicated block shows up).
fn pattern(len: usize) -> Vec<u8> {
    shardgate_testkit::bytes::xorshift(len, 0x1234_5678)
}

fn chunked_encode(data: &[u8], chunk: usize, trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (n, v) in trailers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn request_content_length_body_arrives_intact(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let body = pattern(1000);
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = c.request(&req).unwrap();
    assert_eq!(r.status, 200);
    let got = origin.last().unwrap();
    assert_eq!(got.framing, Framing::Length(1000));
    assert_eq!(got.body, body);
    assert_eq!(got.header("content-length"), Some("1000"));
}

fn multi_mib_bodies_stream_both_ways(driver: Driver) {
    // 4 MiB is 256 times the gateway's buffer: it cannot be buffered whole.
    let big = pattern(4 << 20);
    let origin = Origin::start(handlers::content_length(big.clone())).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let mut req = format!(
        "PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    // Send and read concurrently: the response body is as big as the request's.
    let writer = {
        let mut s = c.stream().try_clone().unwrap();
        std::thread::spawn(move || std::io::Write::write_all(&mut s, &req))
    };
    let r = c.response().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "response body differs");
    let got = origin.last().unwrap();
    assert_eq!(got.body.len(), big.len());
    assert!(got.body == big, "request body differs at the origin");
}

fn request_chunked_body_with_trailers_arrives_intact(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let body = pattern(3 << 20);
    let wire = chunked_encode(&body, 7000, &[("X-Checksum", "abc123"), ("X-Other", "2")]);
    let mut req =
        b"POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&wire);
    let r = c.request(&req).unwrap();
    assert_eq!(r.status, 200);
    let got = origin.last().unwrap();
    assert_eq!(got.framing, Framing::Chunked);
    assert!(got.complete);
    assert!(got.body == body, "decoded body differs");
    assert_eq!(got.trailers.get("x-checksum"), Some("abc123"));
    assert_eq!(got.trailers.get("x-other"), Some("2"));
    assert!(!got.headers.has("content-length"));
    // The connection still works afterwards (the body's end was found exactly).
    let r = c.get("a", "/after").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(origin.last().unwrap().target, "/after");
}

fn response_content_length(driver: Driver) {
    let body = pattern(100_000);
    let origin = Origin::start(handlers::content_length(body.clone())).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.framing, Framing::Length(100_000));
    assert!(r.body == body);
    assert!(!r.closes());
}

fn response_chunked_with_trailers(driver: Driver) {
    let chunks = vec![b"hello ".to_vec(), pattern(50_000), b"end".to_vec()];
    let whole: Vec<u8> = chunks.concat();
    let origin = Origin::start(handlers::chunked(
        chunks,
        vec![("X-Digest".into(), "sha=1".into())],
    ))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.framing, Framing::Chunked);
    assert!(r.complete);
    assert!(r.body == whole);
    assert_eq!(r.trailers.get("x-digest"), Some("sha=1"));
    // Next request on the same connection.
    let r = c.get("a", "/2").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == whole);
}

fn response_close_delimited_closes_the_client_connection(driver: Driver) {
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let body = pattern(70_000);
        let origin = Origin::start(handlers::close_delimited(version, body.clone())).unwrap();
        let gw = gateway(driver, &origin);
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c.get("a", "/").unwrap();
        assert_eq!(r.status, 200, "{version}");
        // Without length or chunking the only way to end the body is to close.
        assert!(
            r.closes() || r.framing == Framing::Close,
            "{version}: {:?}",
            r.headers
        );
        assert!(
            r.body == body,
            "{version}: body differs ({} bytes)",
            r.body.len()
        );
        c.wait_closed(Duration::from_secs(2)).unwrap();
    }
}

fn head_has_no_body_and_keeps_content_length(driver: Driver) {
    let origin = Origin::start(handler(|_, r| {
        r.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1234\r\n\r\n")?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..2 {
        let r = c.request(b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("1234"));
        assert!(r.body.is_empty());
    }
    // Nothing stray follows the head.
    c.expect_silence(Duration::from_millis(100)).unwrap();
    assert!(origin.received().iter().all(|r| r.method == "HEAD"));
    assert_eq!(origin.requests(), 2);
}

fn no_content_and_not_modified_have_no_body(driver: Driver) {
    let origin = Origin::start(handler(|req, r| {
        if req.target == "/204" {
            r.write(b"HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n")?;
        } else {
            // A 304 may carry the representation's length; there is no body.
            r.write(b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncontent-length: 42\r\n\r\n")?;
        }
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..2 {
        let r = c.get("a", "/204").unwrap();
        assert_eq!(r.status, 204);
        assert!(!r.headers.has("content-length"));
        assert!(!r.headers.has("transfer-encoding"));
        assert_eq!(r.header("x-a"), Some("1"));
        let r = c.get("a", "/304").unwrap();
        assert_eq!(r.status, 304);
        assert_eq!(r.header("etag"), Some("\"v1\""));
        assert!(!r.headers.has("transfer-encoding"));
    }
    c.expect_silence(Duration::from_millis(100)).unwrap();
}

fn informational_responses_are_forwarded(driver: Driver) {
    let origin = Origin::start(handler(|_, r| {
        r.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n")?;
        r.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.interim.len(), 1);
    assert_eq!(r.interim[0].status, 103);
    assert_eq!(
        r.interim[0].headers.get("link"),
        Some("</a.css>; rel=preload")
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
}

fn expect_100_continue_raw(driver: Driver) {
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let interim = c.head().unwrap();
    assert_eq!(
        interim.status, 100,
        "the client is told to go on before sending the body"
    );
    c.send(b"hello").unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.interim.is_empty(), "exactly one 100: {:?}", r.interim);
    assert!(r.body.ends_with(b"\n\nhello"), "{}", r.body_str());
    let got = origin.last().unwrap();
    assert_eq!(got.body, b"hello");
    // The gateway answered the expectation itself; it is not forwarded.
    assert!(!got.headers.has("expect"));
    // The connection goes on.
    assert_eq!(c.get("a", "/next").unwrap().status, 200);
}

fn upstream_100_is_not_passed_on_twice(driver: Driver) {
    // An origin that sends its own 100 (unasked: the gateway strips Expect).
    let origin = Origin::start(handler(|req, r| {
        r.write(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        r.write(&handlers::response_bytes(200, &[], &req.body))?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .unwrap();
    assert_eq!(c.head().unwrap().status, 100);
    c.send(b"abc").unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.interim.is_empty(), "a second 100: {:?}", r.interim);
    assert_eq!(r.body, b"abc");
    // Without Expect, no 100 at all.
    let r = c
        .request(b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz")
        .unwrap();
    assert!(r.interim.is_empty(), "{:?}", r.interim);
    assert_eq!(r.body, b"xyz");
}

fn expect_100_continue_with_curl(driver: Driver) {
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = gateway(driver, &origin);
    let dir = tools::TempDir::new("curl-expect").unwrap();
    let data = pattern(200_000);
    let file = dir.write("body.bin", &data).unwrap();
    let url = gw.url("public", "/upload");
    let at_file = format!("@{}", file.display());
    let out = tools::curl(&[
        "-v",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &at_file,
        &url,
    ])
    .unwrap();
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.status, 200, "{}", out.stderr);
    assert!(
        out.stderr.contains("HTTP/1.1 100 Continue"),
        "no 100 in curl's trace:\n{}",
        out.stderr
    );
    assert!(out.body.ends_with(&data));
    assert!(origin.last().unwrap().body == data);
}

fn upgrade_tunnel_carries_bytes_both_ways(driver: Driver) {
    let origin = Origin::start(handlers::upgrade_echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    // The first tunnel bytes ride in the same write as the upgrade request.
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly",
    )
    .unwrap();
    let r = c.head().unwrap();
    assert_eq!(r.status, 101);
    assert!(r.headers.lists("connection", "upgrade"), "{:?}", r.headers);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    assert_eq!(c.read_exact(5).unwrap(), b"early");
    let got = origin.last().unwrap();
    assert_eq!(got.header("upgrade"), Some("websocket"));
    assert!(got.headers.lists("connection", "upgrade"));
    for msg in [
        &b"ping"[..],
        &pattern(100_000)[..],
        b"\x00\x01binary\r\n\r\nGET / HTTP/1.1\r\n",
    ] {
        c.send(msg).unwrap();
        assert_eq!(c.read_exact(msg.len()).unwrap(), msg);
    }
    // Half-close: the origin sees EOF, ends, and the close comes back.
    c.shutdown_write().unwrap();
    c.wait_closed(Duration::from_secs(3)).unwrap();
}

fn http10_client_never_gets_chunked(driver: Driver) {
    // RFC 9112 §7.1: chunked must not be sent to an HTTP/1.0 recipient; the
    // body has to arrive decoded, delimited by the close.
    let chunks = vec![b"part one, ".to_vec(), b"part two".to_vec()];
    let origin = Origin::start(handlers::chunked(chunks, vec![])).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n").unwrap();
    let head = c.head().unwrap();
    assert_eq!(head.status, 200);
    assert!(
        !head.headers.has("transfer-encoding"),
        "chunked sent to an HTTP/1.0 client: {:?}",
        head.headers
    );
    let rest = c.read_to_close().unwrap();
    assert_eq!(String::from_utf8_lossy(&rest), "part one, part two");
}

fn http10_expect_is_ignored(driver: Driver) {
    // RFC 9110 §10.1.1: no 100 Continue for an HTTP/1.0 request.
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"POST /e HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    c.expect_silence(Duration::from_millis(200)).unwrap();
    c.send(b"hello").unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.interim.is_empty(), "{:?}", r.interim);
    assert_eq!(origin.last().unwrap().body, b"hello");
}

fn head_response_with_a_stray_body_does_not_leak_into_the_next_response(driver: Driver) {
    // A broken origin sends a body to HEAD; the client must never see it.
    let origin = Origin::start(handler(|req, r| {
        if req.method == "HEAD" {
            r.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nSTRAY")?;
        } else {
            r.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ngood")?;
        }
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.request(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(r.status, 200);
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"good");
    c.expect_silence(Duration::from_millis(100)).unwrap();
}

fn response_longer_than_its_length_is_cut_and_not_pooled(driver: Driver) {
    let origin = Origin::start(handler(|_, r| {
        r.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged")?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..2 {
        let r = c.get("a", "/").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"ok");
    }
    c.expect_silence(Duration::from_millis(100)).unwrap();
    // The connection with leftover bytes was not reused.
    assert_eq!(origin.connections(), 2);
}

fn declined_upgrade_is_a_normal_response(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"no upgrade here")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c
        .request(
            b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"no upgrade here");
    let r = c.get("a", "/plain").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"no upgrade here");
}

fn unrequested_switching_protocols_is_502(driver: Driver) {
    let origin = Origin::start(handlers::upgrade_echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    // No Upgrade in the request: a 101 from the origin is not acceptable.
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.status, 502);
}

/// A 101 must name the protocol it switches to, and only one the client
/// offered (RFC 9110 §7.8): anything else opens no tunnel and is 502.
fn a_switch_to_an_unoffered_protocol_is_502(driver: Driver) {
    let origin = Origin::start(handler(|req, r| {
        let upgrade = match req.target.as_str() {
            "/other" => "upgrade: h2c\r\n",
            "/extra" => "upgrade: websocket, tls/1.3\r\n",
            "/version" => "upgrade: websocket/7\r\n",
            "/none" => "",
            _ => "upgrade: WebSocket/13\r\n",
        };
        r.write(
            format!("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n{upgrade}\r\n")
                .as_bytes(),
        )?;
        Ok(After::Close)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    for (path, status) in [
        ("/other", 502),
        ("/extra", 502),
        ("/version", 502),
        ("/none", 502),
        ("/same", 101),
    ] {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket/13, foo\r\n\r\n"
        );
        c.send(req.as_bytes()).unwrap();
        let r = c.head().unwrap();
        assert_eq!(r.status, status, "{path}");
        assert_eq!(origin.last().unwrap().target, path);
    }
}

/// An h2c upgrade is ignored (RFC 9113 §3.1): the origin sees a plain
/// request, without `Upgrade` or `HTTP2-Settings`, so no tunnel can open
/// past the gateway's routes; even with `HTTP2-Settings` not listed in
/// Connection.
fn an_h2c_upgrade_is_never_forwarded(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"plain")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for connection in ["Upgrade, HTTP2-Settings", "Upgrade"] {
        let req = format!(
            "GET /h2c HTTP/1.1\r\nHost: a\r\nConnection: {connection}\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        );
        let r = c.request(req.as_bytes()).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"plain"[..]));
        let got = origin.last().unwrap();
        assert_eq!(got.header("upgrade"), None, "{:?}", got.headers);
        assert_eq!(got.header("http2-settings"), None, "{:?}", got.headers);
    }
    // The connection stays an HTTP/1.1 connection.
    assert_eq!(c.get("a", "/after").unwrap().body, b"plain");
}

/// RFC 9110 §6.6.1: a response forwarded without `Date` gets the
/// gateway's; the origin's own is kept as it sent it.
fn a_response_without_date_gets_one(driver: Driver) {
    let bare = Origin::start(handlers::fixed(200, &[], b"bare")).unwrap();
    let gw = gateway(driver, &bare);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/").unwrap();
    assert_eq!(bare.last().unwrap().header("date"), None);
    let date = r
        .header("date")
        .unwrap_or_else(|| panic!("{:?}", r.headers));
    // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    assert!(date.len() == 29 && date.ends_with(" GMT"), "{date:?}");
    assert_eq!(r.headers.get_all("date").len(), 1);
    let dated = Origin::start(handlers::fixed(
        200,
        &[("Date", "Mon, 01 Jan 2024 00:00:00 GMT")],
        b"dated",
    ))
    .unwrap();
    let gw = gateway(driver, &dated);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.headers.get_all("date"), ["Mon, 01 Jan 2024 00:00:00 GMT"]);
}

fn many_pipelined_requests_beyond_one_buffer(driver: Driver) {
    // 500 requests (~24 KiB) in one write: more than the 16 KiB buffer.
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let mut all = Vec::new();
    for i in 0..500 {
        all.extend_from_slice(format!("GET /p{i:04} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    let writer = {
        let mut s = c.stream().try_clone().unwrap();
        std::thread::spawn(move || std::io::Write::write_all(&mut s, &all))
    };
    for i in 0..500 {
        let r = c.response().unwrap();
        assert_eq!(
            r.header("x-echo-target"),
            Some(format!("/p{i:04}").as_str())
        );
    }
    writer.join().unwrap().unwrap();
    c.expect_silence(Duration::from_millis(100)).unwrap();
}

fn pipelined_request_after_connection_close_is_not_served(driver: Driver) {
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.header("x-echo-target"), Some("/1"));
    c.wait_closed(Duration::from_secs(2)).unwrap();
    assert!(!origin.received().iter().any(|r| r.target == "/2"));
}

each_driver!(
    request_content_length_body_arrives_intact,
    multi_mib_bodies_stream_both_ways,
    request_chunked_body_with_trailers_arrives_intact,
    response_content_length,
    response_chunked_with_trailers,
    response_close_delimited_closes_the_client_connection,
    head_has_no_body_and_keeps_content_length,
    no_content_and_not_modified_have_no_body,
    informational_responses_are_forwarded,
    expect_100_continue_raw,
    upstream_100_is_not_passed_on_twice,
    expect_100_continue_with_curl,
    upgrade_tunnel_carries_bytes_both_ways,
    http10_client_never_gets_chunked,
    http10_expect_is_ignored,
    head_response_with_a_stray_body_does_not_leak_into_the_next_response,
    response_longer_than_its_length_is_cut_and_not_pooled,
    declined_upgrade_is_a_normal_response,
    unrequested_switching_protocols_is_502,
    a_switch_to_an_unoffered_protocol_is_502,
    an_h2c_upgrade_is_never_forwarded,
    a_response_without_date_gets_one,
    many_pipelined_requests_beyond_one_buffer,
    pipelined_request_after_connection_close_is_not_served,
);
