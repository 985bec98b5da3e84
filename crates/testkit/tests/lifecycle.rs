//! Request-lifecycle behaviour found wrong when the code was read from
//! outside: a static route must read the request body before answering (a
//! broken chunked body gets 400, as nginx answers), and a tunnel's idle
//! limit is its own upstream's `read_timeout`, not the largest of all.

use std::time::{Duration, Instant};

use shardgate_testkit::{each_driver, handlers, Client, Driver, Gateway, Origin};

const STATIC: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn static_route_answers_400_to_a_broken_chunked_body(driver: Driver) {
    let gw = Gateway::builder(STATIC).driver(driver).start().unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n",
    )
    .unwrap();
    let r = c.response().unwrap();
    assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(&r.body));
    c.wait_closed(Duration::from_secs(3)).unwrap();
}

fn static_route_drains_a_valid_body_and_keeps_the_connection(driver: Driver) {
    let gw = Gateway::builder(STATIC).driver(driver).start().unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .unwrap();
    let r = c.response().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    // The body was consumed: the next request on the connection is found.
    let r = c.get("a", "/").unwrap();
    assert_eq!(r.status, 200);
}

const TUNNEL: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
path_prefix = "/ws"
proxy = "ws"

[[route]]
proxy = "slow"

[[upstream]]
name = "ws"
servers = ["${UP}"]
read_timeout = "300ms"

[[upstream]]
name = "slow"
servers = ["${UP}"]
read_timeout = "60s"
"#;

fn tunnel_idles_out_after_its_own_upstreams_read_timeout(driver: Driver) {
    let origin = Origin::start(handlers::upgrade_echo()).unwrap();
    let gw = Gateway::builder(TUNNEL)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    assert_eq!(c.head().unwrap().status, 101);
    c.send(b"ping").unwrap();
    assert_eq!(c.read_exact(4).unwrap(), b"ping");
    let idle = Instant::now();
    // Before the fix the tunnel waited for the largest read_timeout (60 s).
    c.wait_closed(Duration::from_secs(5)).unwrap();
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}: before its read_timeout"
    );
}

each_driver!(
    static_route_answers_400_to_a_broken_chunked_body,
    static_route_drains_a_valid_body_and_keeps_the_connection,
    tunnel_idles_out_after_its_own_upstreams_read_timeout,
);
