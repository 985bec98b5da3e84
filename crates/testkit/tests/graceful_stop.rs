//! Graceful stop: in-flight requests finish, idle connections close at once,
//! new connections are refused.

use std::time::Duration;

use shardgate_testkit::{
    each_driver, handler, handlers, refuses, wait_until, Client, Driver, Gate, Gateway, Origin,
};

const CFG: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn in_flight_request_completes_idle_ones_close_new_ones_refused(driver: Driver) {
    let gate = Gate::new();
    let slow = handlers::gated(gate.clone(), handlers::fixed(200, &[], b"slow but fine"));
    let quick = handlers::fixed(200, &[], b"quick");
    let origin = Origin::start(handler(move |req, r| {
        if req.target == "/slow" {
            slow(req, r)
        } else {
            quick(req, r)
        }
    }))
    .unwrap();
    let mut gw = Gateway::builder(CFG)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let addr = gw.addr("public");

    // An idle keep-alive connection (served once, then quiet).
    let mut idle = Client::connect(addr).unwrap();
    assert_eq!(idle.get("a", "/warm").unwrap().status, 200);

    // A request the origin holds until the test lets it go.
    let mut busy = Client::connect(addr).unwrap();
    busy.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(
        origin.wait_requests(2, Duration::from_secs(3)),
        "the slow request reached the origin"
    );

    gw.shutdown();
    // Idle connections are closed promptly, while the slow one is still held.
    idle.wait_closed(Duration::from_secs(2)).unwrap();
    // Listeners close: new connections are refused.
    assert!(
        wait_until(Duration::from_secs(2), || refuses(addr)),
        "listener still accepting after shutdown"
    );

    // The held request is answered in full, and told the connection closes.
    gate.open();
    let r = busy.response().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"slow but fine");
    assert!(r.closes(), "{:?}", r.headers);
    busy.wait_closed(Duration::from_secs(2)).unwrap();
    gw.join();
    assert!(refuses(addr));
}

fn stop_with_nothing_in_flight_is_quick(driver: Driver) {
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let mut gw = Gateway::builder(CFG)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let addr = gw.addr("public");
    let mut c = Client::connect(addr).unwrap();
    assert_eq!(c.get("a", "/").unwrap().status, 200);
    let t0 = std::time::Instant::now();
    gw.stop();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t0.elapsed()
    );
    c.wait_closed(Duration::from_secs(1)).unwrap();
    assert!(refuses(addr));
}

each_driver!(
    in_flight_request_completes_idle_ones_close_new_ones_refused,
    stop_with_nothing_in_flight_is_quick,
);
