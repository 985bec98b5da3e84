//! Persistent connections on both sides: client keep-alive, upstream pooling,
//! pipelining, and the cases where the connection must close.

use std::time::Duration;

use shardgate_testkit::{each_driver, handlers, Client, Driver, Gateway, Origin};

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

fn sequential_requests_share_one_connection_each_side(driver: Driver) {
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for i in 0..50 {
        let r = c.get("a", &format!("/r{i}")).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-echo-target"), Some(format!("/r{i}").as_str()));
        assert!(!r.closes());
    }
    assert_eq!(origin.requests(), 50);
    // One shard, one client at a time: the pooled upstream connection is reused.
    assert_eq!(
        origin.connections(),
        1,
        "upstream connections for 50 requests"
    );
    // Every request after the first came on the same upstream connection.
    let seqs: Vec<usize> = origin.received().iter().map(|r| r.seq_on_conn).collect();
    assert_eq!(seqs, (0..50).collect::<Vec<_>>());
}

fn pool_is_shared_across_client_connections(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    for _ in 0..20 {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        assert_eq!(c.get("a", "/").unwrap().status, 200);
    }
    assert_eq!(origin.requests(), 20);
    assert_eq!(origin.connections(), 1);
}

fn pipelined_requests_are_answered_in_order(driver: Driver) {
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(
        b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world\
          GET /third HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    let r1 = c.response().unwrap();
    let r2 = c.response().unwrap();
    let r3 = c.response().unwrap();
    assert_eq!(r1.header("x-echo-target"), Some("/first"));
    assert_eq!(r2.header("x-echo-target"), Some("/second"));
    assert_eq!(r2.header("x-echo-method"), Some("POST"));
    assert!(r2.body.ends_with(b"\n\nhello world"), "{}", r2.body_str());
    assert_eq!(r3.header("x-echo-target"), Some("/third"));
    let targets: Vec<String> = origin.received().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/first", "/second", "/third"]);
    assert_eq!(origin.received()[1].body, b"hello world");
    c.expect_silence(Duration::from_millis(100)).unwrap();
}

fn client_connection_close_is_honoured(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/1").unwrap().status, 200);
    let r = c
        .request(b"GET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    assert!(r.closes(), "{:?}", r.headers);
    c.wait_closed(Duration::from_secs(2)).unwrap();
    // The upstream connection is not the client's: it stays pooled.
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/3").unwrap().status, 200);
    assert_eq!(origin.connections(), 1);
}

fn http10_client_without_keep_alive_gets_closed(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.request(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    c.wait_closed(Duration::from_secs(2)).unwrap();
    // The request went upstream as HTTP/1.1 (the proxy speaks 1.1 upstream).
    assert_eq!(origin.last().unwrap().minor_version, 1);
}

fn http10_client_with_keep_alive_stays_open(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..3 {
        let r = c
            .request(b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.headers.lists("connection", "keep-alive"),
            "{:?}",
            r.headers
        );
    }
}

fn half_closed_client_still_gets_its_response(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    c.shutdown_write().unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    c.wait_closed(Duration::from_secs(2)).unwrap();
}

fn idle_client_is_closed_after_keepalive_timeout(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = Gateway::builder(&format!(
        "[server.timeouts]\nkeepalive = \"200ms\"\n{PROXY}"
    ))
    .var("UP", origin.addr())
    .driver(driver)
    .start()
    .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 200);
    let t0 = std::time::Instant::now();
    c.wait_closed(Duration::from_secs(3)).unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(150),
        "closed after {:?}",
        t0.elapsed()
    );
}

fn upstream_connection_close_is_not_pooled(driver: Driver) {
    let origin = Origin::start(shardgate_testkit::handler(|_, r| {
        r.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")?;
        Ok(shardgate_testkit::After::Close)
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..3 {
        let r = c.get("a", "/").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"ok");
        // The upstream's close is its own business: the client stays connected.
        assert!(!r.closes(), "{:?}", r.headers);
    }
    assert_eq!(origin.connections(), 3);
    assert!(origin.received().iter().all(|r| r.seq_on_conn == 0));
}

fn client_gone_mid_request_does_not_hurt_others(driver: Driver) {
    let gate = shardgate_testkit::Gate::new();
    let held = handlers::gated(gate.clone(), handlers::fixed(200, &[], b"late"));
    let quick = handlers::fixed(200, &[], b"quick");
    let origin = Origin::start(shardgate_testkit::handler(move |req, r| {
        if req.target == "/held" {
            held(req, r)
        } else {
            quick(req, r)
        }
    }))
    .unwrap();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"GET /held HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(origin.wait_requests(1, Duration::from_secs(3)));
    drop(c);
    let mut other = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(other.get("a", "/q").unwrap().body, b"quick");
    gate.open();
    for _ in 0..3 {
        assert_eq!(other.get("a", "/q").unwrap().body, b"quick");
    }
}

fn curl_reuses_its_connection(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"hello curl")).unwrap();
    let gw = gateway(driver, &origin);
    let (u1, u2) = (gw.url("public", "/one"), gw.url("public", "/two"));
    let out =
        shardgate_testkit::tools::curl(&["-v", "-o", "/dev/null", &u1, "-o", "/dev/null", &u2])
            .unwrap();
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.status, 200);
    // curl sends both requests on one connection when the gateway keeps it.
    assert!(
        out.stderr.contains("Re-using existing connection"),
        "{}",
        out.stderr
    );
    assert_eq!(gw.shard_stats()[0].accepted, 1, "{:?}", gw.shard_stats());
    let targets: Vec<String> = origin.received().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/one", "/two"]);
}

fn curl_http10_gets_the_body(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"hello 1.0")).unwrap();
    let gw = gateway(driver, &origin);
    let out = shardgate_testkit::tools::curl(&["--http1.0", &gw.url("public", "/")]).unwrap();
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.status, 200);
    assert_eq!(out.body, b"hello 1.0");
}

each_driver!(
    sequential_requests_share_one_connection_each_side,
    pool_is_shared_across_client_connections,
    pipelined_requests_are_answered_in_order,
    client_connection_close_is_honoured,
    http10_client_without_keep_alive_gets_closed,
    http10_client_with_keep_alive_stays_open,
    half_closed_client_still_gets_its_response,
    idle_client_is_closed_after_keepalive_timeout,
    upstream_connection_close_is_not_pooled,
    client_gone_mid_request_does_not_hurt_others,
    curl_reuses_its_connection,
    curl_http10_gets_the_body,
);
