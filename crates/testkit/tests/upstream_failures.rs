//! An upstream that dies mid-response, and the keep-alive race with an
//! upstream that closes pooled connections.

use std::time::Duration;

use shardgate_testkit::{
    each_driver, handler, handlers, Client, Driver, Gateway, Origin, OriginOptions,
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

/// `/die…` gets `dying`, everything else a normal 200 "fine".
fn dying_or_fine(dying: shardgate_testkit::Handler) -> shardgate_testkit::Handler {
    let fine = handlers::fixed(200, &[], b"fine");
    handler(move |req, r| {
        if req.target.starts_with("/die") {
            dying(req, r)
        } else {
            fine(req, r)
        }
    })
}

fn assert_truncated_then_recovers(driver: Driver, dying: shardgate_testkit::Handler, sent: &[u8]) {
    let origin = Origin::start(dying_or_fine(dying)).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    // Pipeline a second request behind it: it must not be answered on this
    // connection (the client cannot tell where the first response ended).
    c.send(b"GET /die HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert!(!r.complete, "the truncation must be visible to the client");
    assert_eq!(r.body, sent);
    // The connection is closed: no hang, no second response.
    c.wait_closed(Duration::from_secs(3)).unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/next").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"fine");
    assert!(!origin.received().iter().any(|r| r.target == "/second"));
}

fn upstream_closes_mid_body(driver: Driver) {
    assert_truncated_then_recovers(
        driver,
        handlers::dies_mid_response(1000, b"partial".to_vec(), false),
        b"partial",
    );
}

fn upstream_resets_mid_body(driver: Driver) {
    assert_truncated_then_recovers(
        driver,
        handlers::dies_mid_response(1000, b"partial".to_vec(), true),
        b"partial",
    );
}

fn upstream_closes_mid_chunked_body(driver: Driver) {
    assert_truncated_then_recovers(
        driver,
        handlers::dies_mid_chunked(b"first chunk".to_vec()),
        b"first chunk",
    );
}

fn upstream_closes_before_any_response_is_502(driver: Driver) {
    let origin = Origin::start(handler(|req, r| {
        if req.target == "/die" {
            return Ok(shardgate_testkit::After::Close);
        }
        handlers::fixed(200, &[], b"fine")(req, r)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    // A fresh connection closed without a byte: nothing to retry on.
    let r = c.get("a", "/die").unwrap();
    assert_eq!(r.status, 502);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/ok").unwrap().body, b"fine");
}

fn upstream_sends_garbage_is_502(driver: Driver) {
    let origin = Origin::start(handler(|_, r| {
        r.write(b"SPDY/3 banana\r\n\r\n")?;
        Ok(shardgate_testkit::After::Close)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 502);
}

fn ambiguous_upstream_framing_is_502(driver: Driver) {
    for (name, resp) in [
        (
            "CL+TE",
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
                [..],
        ),
        (
            "two lengths",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello",
        ),
        (
            "bad length",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        ),
        (
            // Outside RFC 9112's chunk-ext grammar: where the size line
            // ends depends on who reads it.
            "CRLF in a quoted chunk extension",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2;a=\"\r\nxx\r\n0\"\r\n\r\n",
        ),
    ] {
        let bytes = resp.to_vec();
        let origin = Origin::start(handler(move |_, r| {
            r.write(&bytes)?;
            Ok(shardgate_testkit::After::Close)
        }))
        .unwrap();
        let gw = gateway(driver, &origin);
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c.get("a", "/").unwrap();
        assert_eq!(r.status, 502, "{name}");
    }
}

fn upstream_response_head_too_large_is_502(driver: Driver) {
    let big = format!(
        "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 0\r\n\r\n",
        "h".repeat(40_000)
    );
    let origin = Origin::start(handler(move |_, r| {
        r.write(big.as_bytes())?;
        Ok(shardgate_testkit::After::Close)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 502);
}

fn slow_origin_within_timeouts_is_fine(driver: Driver) {
    let chunks: Vec<Vec<u8>> = (0..5).map(|i| vec![b'a' + i; 1000]).collect();
    let whole = chunks.concat();
    let origin = Origin::start(handlers::slow(
        Duration::from_millis(100),
        chunks,
        Duration::from_millis(50),
    ))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body, whole);
    assert_eq!(c.get("a", "/again").unwrap().body, whole);
}

fn upstream_stalling_mid_body_closes_the_client_after_read_timeout(driver: Driver) {
    let origin = Origin::start(handlers::slow(
        Duration::ZERO,
        vec![b"first".to_vec(), b"never in time".to_vec()],
        Duration::from_millis(1500),
    ))
    .unwrap();
    let gw = Gateway::builder(&format!("{PROXY}read_timeout = \"300ms\"\n"))
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let t0 = std::time::Instant::now();
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert!(
        r.body.is_empty() || r.body == b"first",
        "{:?}",
        r.body_str()
    );
    assert!(
        t0.elapsed() < Duration::from_millis(1400),
        "waited {:?}",
        t0.elapsed()
    );
    c.wait_closed(Duration::from_secs(1)).unwrap();
}

fn pooled_connection_closed_by_origin_is_not_used(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/1").unwrap().status, 200);
    assert_eq!(origin.connections(), 1);
    // The origin's keep-alive timer fires: it closes the idle connection.
    origin.close_connections();
    assert!(shardgate_testkit::wait_until(
        Duration::from_secs(2),
        || origin.open_connections() == 0
    ));
    for (i, method) in ["GET", "POST"].iter().enumerate() {
        let req = format!("{method} /after{i} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
        let r = c.request(req.as_bytes()).unwrap();
        assert_eq!(r.status, 200, "{method}");
    }
    assert_eq!(origin.connections(), 2);
}

fn idle_timeout_at_the_origin_does_not_fail_requests(driver: Driver) {
    // The origin closes connections idle for 50 ms, well before the pool would.
    let origin = Origin::with_options(
        handlers::fixed(200, &[], b"ok"),
        OriginOptions {
            idle_timeout: Duration::from_millis(50),
            ..OriginOptions::default()
        },
    )
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for i in 0..3 {
        assert_eq!(c.get("a", &format!("/{i}")).unwrap().status, 200);
        assert!(shardgate_testkit::wait_until(
            Duration::from_secs(2),
            || origin.open_connections() == 0
        ));
    }
    assert_eq!(origin.requests(), 3);
}

fn stray_bytes_on_an_idle_pooled_connection_are_never_a_response(driver: Driver) {
    // After each response the origin writes a stray `408` on the idle
    // connection 20 ms later (as some servers do before closing). A request
    // that arrives after that must not get it as its answer.
    let origin = Origin::start(shardgate_testkit::handler(|req, r| {
        let body = format!("fresh {}", req.target);
        r.write(&handlers::response_bytes(200, &[], body.as_bytes()))?;
        let mut late = r.stream().try_clone()?;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = std::io::Write::write_all(
                &mut late,
                b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 5\r\n\r\nstale",
            );
        });
        Ok(shardgate_testkit::After::KeepAlive)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for (i, method) in ["GET", "GET", "POST", "GET"].iter().enumerate() {
        let body = if *method == "POST" {
            "Content-Length: 0\r\n"
        } else {
            ""
        };
        let req = format!("{method} /r{i} HTTP/1.1\r\nHost: a\r\n{body}\r\n");
        let r = c.request(req.as_bytes()).unwrap();
        assert_eq!(
            (r.status, r.body_str()),
            (200, format!("fresh /r{i}")),
            "{method}"
        );
        std::thread::sleep(Duration::from_millis(60));
    }
    assert_eq!(
        origin.connections(),
        4,
        "no connection with stray bytes is reused"
    );
}

fn keepalive_race_get_is_retried_post_is_not(driver: Driver) {
    // Each upstream connection answers its first request; on the second,
    // the origin reads it and closes without answering — as if its idle
    // timer fired just as the request arrived.
    let origin = Origin::start(handlers::one_per_connection(handlers::echo())).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/warm").unwrap().status, 200);
    // GET on the pooled connection: lost, then retried on a fresh one.
    let r = c.get("a", "/idempotent").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-echo-target"), Some("/idempotent"));
    let gets: Vec<_> = origin
        .received()
        .into_iter()
        .filter(|r| r.target == "/idempotent")
        .collect();
    assert_eq!(
        gets.len(),
        2,
        "sent on the pooled connection, then once more on a new one"
    );
    assert_ne!(gets[0].conn, gets[1].conn);
    assert_eq!(gets[1].seq_on_conn, 0);
    // POST on the pooled connection: lost, and must not be sent again.
    let r = c
        .request(b"POST /once HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    assert_eq!(r.status, 502);
    let posts = origin
        .received()
        .into_iter()
        .filter(|r| r.target == "/once")
        .count();
    assert_eq!(posts, 1, "a POST must never be replayed");
    // A bodiless POST is not idempotent either.
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/warm2").unwrap().status, 200);
    let r = c
        .request(b"POST /once-empty HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(
        origin
            .received()
            .into_iter()
            .filter(|r| r.target == "/once-empty")
            .count(),
        1
    );
}

each_driver!(
    upstream_closes_mid_body,
    upstream_resets_mid_body,
    upstream_closes_mid_chunked_body,
    upstream_closes_before_any_response_is_502,
    upstream_sends_garbage_is_502,
    ambiguous_upstream_framing_is_502,
    upstream_response_head_too_large_is_502,
    slow_origin_within_timeouts_is_fine,
    upstream_stalling_mid_body_closes_the_client_after_read_timeout,
    pooled_connection_closed_by_origin_is_not_used,
    idle_timeout_at_the_origin_does_not_fail_requests,
    keepalive_race_get_is_retried_post_is_not,
    stray_bytes_on_an_idle_pooled_connection_are_never_a_response,
);
