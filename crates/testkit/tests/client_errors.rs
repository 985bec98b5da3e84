//! `shardgate_client_errors_total`: malformed or over-limit HTTP/1.1
//! requests refused before routing, each counted once whichever part of the
//! gateway refused it (the parser, the head limits, the admit phase), on
//! real sockets, both drivers; refusals after routing and unknown routes are
//! not in it. The recorder is process-wide, so the two halves take turns.

use std::sync::Mutex;
use std::time::Duration;

use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{each_driver, handlers, wait_until, Client, Driver, Gateway, Origin};

static COUNTER: Mutex<()> = Mutex::new(());

each_driver!(refusals_before_routing_are_counted_once);

const CONFIG: &str = r#"
[admin]
address = "127.0.0.1:0"

[server.limits]
max_header_bytes = "4KiB"
max_request_line = "1KiB"
max_body_bytes = 1000

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
hosts = ["a"]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn refusals_before_routing_are_counted_once(driver: Driver) {
    let _g = COUNTER.lock().unwrap_or_else(|p| p.into_inner());
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let gw = Gateway::builder(CONFIG)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let admin = gw.admin().unwrap();
    let count = || scrape_sum(admin, "shardgate_client_errors_total", &[]);
    let before = count();
    let big_field = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "v".repeat(5000)
    );
    let cases: [(&str, &[u8], u16); 7] = [
        // Counted: refused before any route was chosen.
        (
            "malformed",
            b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
            400,
        ),
        ("head over max_header_bytes", big_field.as_bytes(), 431),
        (
            "CONNECT (admit)",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            501,
        ),
        (
            "Content-Length over max_body_bytes (admit)",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
            413,
        ),
        // Not counted: no route, and a refusal after routing.
        ("no route", b"GET / HTTP/1.1\r\nHost: b\r\n\r\n", 404),
        (
            "bad Max-Forwards (after route)",
            b"OPTIONS / HTTP/1.1\r\nHost: a\r\nMax-Forwards: x\r\n\r\n",
            400,
        ),
        ("served", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ];
    for (what, bytes, status) in cases {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c.request(bytes).unwrap();
        assert_eq!(r.status, status, "{what}");
    }
    let mut counted = 0.0;
    wait_until(Duration::from_secs(2), || {
        counted = count() - before;
        counted >= 4.0
    });
    // A late extra count would show up here too.
    std::thread::sleep(Duration::from_millis(200));
    counted = count() - before;
    assert_eq!(
        counted, 4.0,
        "shardgate_client_errors_total rose by {counted}"
    );
}
