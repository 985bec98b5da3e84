//! An origin that answers before it has read the request body and stops
//! reading it (RFC 9112 §9.5: a 413 or 401 for an upload it refuses): the
//! client gets that answer, not a 502, its connection then closes (the rest
//! of its body was never read), and the origin is not counted as failing.
//! An origin that closes without answering still gives 502. Both drivers,
//! a raw-socket origin.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{each_driver, Client, Driver, Gateway};

/// Held by whoever measures the process-wide upstream failure counter.
static FAILURES: Mutex<()> = Mutex::new(());

const GW: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

/// Reads one request head per connection, then sends `answer` (if any)
/// and closes without reading the body.
fn refusing_origin(answer: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let _ = c.write_all(answer);
                thread::sleep(Duration::from_millis(100));
                // Dropped with the body unread: the kernel answers more of
                // it with a reset.
            });
        }
    });
    addr
}

fn gateway(driver: Driver, up: SocketAddr) -> Gateway {
    Gateway::builder(GW)
        .var("UP", up)
        .driver(driver)
        .start()
        .unwrap()
}

/// A 900,000-byte upload: the head and 10 KB, then (after the origin
/// answered and closed) the rest.
fn upload(c: &mut Client) {
    c.send(b"POST /up HTTP/1.1\r\nHost: a\r\ncontent-length: 900000\r\n\r\n")
        .unwrap();
    c.send(&[b'x'; 10_000]).unwrap();
    thread::sleep(Duration::from_millis(500));
    // The gateway may close while this is in flight.
    let _ = c.send(&vec![b'y'; 890_000]);
}

fn failures(gw: &Gateway) -> f64 {
    scrape_sum(
        gw.admin().unwrap(),
        "shardgate_upstream_failures_total",
        &[],
    )
}

each_driver!(an_early_answer_reaches_the_client, no_answer_is_still_502,);

fn an_early_answer_reaches_the_client(driver: Driver) {
    let _g = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    let up = refusing_origin(
        b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo big\n",
    );
    let gw = gateway(driver, up);
    let before = failures(&gw);
    for _ in 0..3 {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        upload(&mut c);
        let r = c.response().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (413, &b"too big\n"[..]));
        assert!(r.closes(), "the unread body leaves the connection unusable");
        c.wait_closed(Duration::from_secs(3)).unwrap();
    }
    assert_eq!(
        failures(&gw) - before,
        0.0,
        "the origin answered: no failure"
    );
}

fn no_answer_is_still_502(driver: Driver) {
    let _g = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    let up = refusing_origin(b"");
    let gw = gateway(driver, up);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    upload(&mut c);
    let r = c.response().unwrap();
    assert_eq!(r.status, 502);
}
