//! Reloads that add and remove listeners (issue 11, ADR 18), on real
//! sockets and both drivers: an added TCP, TLS or h3 listener serves as soon
//! as the reload returns; a removed one refuses new connections, lets its
//! in-flight request finish (`Connection: close`), closes its idle
//! keep-alive connections, and for h3 sends GOAWAY and closes once the
//! stream is done; a port already in use refuses the reload and changes
//! nothing; connections on kept listeners survive many reloads.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::net::listen_backlogs;
use shardgate_testkit::{
    each_driver, handlers, refuses, tools, wait_until, Client, Driver, Gateway, Origin, TestCert,
    TlsClient,
};

/// Held by the tests that read `shardgate_config_reload_failures_total`
/// (process-wide: parallel tests would add to each other's deltas).
static COUNTERS: Mutex<()> = Mutex::new(());

/// The slow origin's answer time: long enough to reload while it waits.
const SLOW: Duration = Duration::from_millis(1500);

const BASE: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "${N}-main"
address = "127.0.0.1:0"

[[route]]
name = "${N}-slow"
path_prefix = "/slow"
proxy = "${N}-slow"

[[route]]
name = "${N}-fast"
respond = { status = 200, body = "fast" }

[[upstream]]
name = "${N}-slow"
servers = ["${SLOW}"]
"#;

const EXTRA_TCP: &str = r#"
[[listener]]
name = "${N}-extra"
address = "${EXTRA_ADDR}"
"#;

const EXTRA_TLS: &str = r#"
[[listener]]
name = "${N}-extra"
address = "127.0.0.1:0"
[listener.tls]
certificates = [${CERTS}]
"#;

const EXTRA_H3: &str = r#"
[[listener]]
name = "${N}-extra"
address = "${EXTRA_ADDR}"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]
[listener.quic]
max_connections = 64
"#;

fn slow_origin() -> Origin {
    Origin::start(handlers::slow(
        SLOW,
        vec![b"slow-body".to_vec()],
        Duration::ZERO,
    ))
    .unwrap()
}

fn gateway(driver: Driver, name: &str, slow: &Origin, cert: &TestCert) -> Gateway {
    Gateway::builder(BASE)
        .var("N", format!("{name}-{driver}"))
        .var("SLOW", slow.addr())
        .var("CERTS", cert.toml())
        .var("EXTRA_ADDR", "127.0.0.1:0")
        .driver(driver)
        .shards(2)
        .start()
        .unwrap()
}

fn failures(gw: &Gateway) -> f64 {
    scrape_sum(
        gw.admin().unwrap(),
        "shardgate_config_reload_failures_total",
        &[],
    )
}

/// Sends a GET for `/slow` on a thread; returns once the origin has it.
fn in_flight<C: Send + 'static>(
    slow: &Origin,
    mut conn: C,
    get: fn(&mut C) -> shardgate_testkit::Result<shardgate_testkit::Response>,
) -> thread::JoinHandle<shardgate_testkit::Response> {
    let before = slow.requests();
    let t = thread::spawn(move || get(&mut conn).unwrap());
    assert!(slow.wait_requests(before + 1, Duration::from_secs(10)));
    t
}

fn add_serve_remove(driver: Driver, tls: bool) {
    let name = if tls { "tls" } else { "tcp" };
    let cert = TestCert::new(&["extra.test"]).unwrap();
    let slow = slow_origin();
    let gw = gateway(driver, name, &slow, &cert);
    let n = format!("{name}-{driver}");
    let extra = format!("{n}-extra");
    let main = gw.addr(&format!("{n}-main"));
    let mut kept = Client::connect(main).unwrap();
    assert_eq!(kept.get("a", "/").unwrap().body, b"fast");

    let with_extra = format!("{BASE}{}", if tls { EXTRA_TLS } else { EXTRA_TCP });
    gw.reload(&with_extra).unwrap();
    let addr = gw.addr(&extra);
    assert_ne!(addr, main);
    let (idle, busy) = if tls {
        let mut c = TlsClient::connect(addr, "extra.test", &[&cert]).unwrap();
        assert_eq!(c.get("extra.test", "/").unwrap().body, b"fast");
        assert_eq!(c.peer_certificate().as_ref(), Some(&cert.der), "its cert");
        let busy = TlsClient::connect(addr, "extra.test", &[&cert]).unwrap();
        let t = in_flight(&slow, busy, |c| c.get("extra.test", "/slow"));
        (Conn::Tls(Box::new(c)), t)
    } else {
        let mut c = Client::connect(addr).unwrap();
        assert_eq!(c.get("a", "/").unwrap().body, b"fast");
        let t = in_flight(&slow, Client::connect(addr).unwrap(), |c| {
            c.get("a", "/slow")
        });
        (Conn::Tcp(c), t)
    };

    gw.reload(BASE).unwrap();
    assert!(gw.server().listener_addr(&extra).is_none());
    // New connections are refused once every shard closed its socket.
    assert!(
        wait_until(Duration::from_secs(5), || refuses(addr)),
        "the removed listener still accepts"
    );
    // The idle keep-alive connection is closed.
    idle.wait_closed();
    // The request in flight completes, and says the connection closes.
    let r = busy.join().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slow-body"[..]));
    assert!(r.closes(), "no Connection: close: {:?}", r.headers);
    // The kept listener and its connection never noticed.
    assert_eq!(kept.get("a", "/").unwrap().body, b"fast");
}

enum Conn {
    Tcp(Client),
    Tls(Box<TlsClient>),
}

impl Conn {
    /// Succeeds once the gateway closed the connection without sending
    /// anything (bounded by the clients' 5 s read timeout).
    fn wait_closed(self) {
        match self {
            Conn::Tcp(mut c) => c.wait_closed(Duration::from_secs(5)).unwrap(),
            Conn::Tls(mut c) => {
                let (rest, _) = c.read_to_close().unwrap();
                assert!(rest.is_empty(), "{rest:?}");
            }
        }
    }
}

fn tcp_listener_is_added_and_removed(driver: Driver) {
    add_serve_remove(driver, false);
}

fn tls_listener_is_added_and_removed(driver: Driver) {
    add_serve_remove(driver, true);
}

fn h3_plan(addr: SocketAddr, cert: &TestCert) -> H3Plan {
    H3Plan::new(addr, "extra.test", cert)
}

fn h3_listener_is_added_and_removed_with_goaway(driver: Driver) {
    let cert = TestCert::new(&["extra.test"]).unwrap();
    let slow = slow_origin();
    let gw = gateway(driver, "h3", &slow, &cert);
    let n = format!("h3-{driver}");
    gw.reload(&format!("{BASE}{EXTRA_H3}")).unwrap();
    let addr = gw.addr(&format!("{n}-extra"));
    let res = h3client::run(&h3_plan(addr, &cert).timeout(Duration::from_secs(10))).unwrap();
    assert!(res.ok, "{}", res.summary());
    assert_eq!(res.requests[0].body, "fast");

    // A slow request in flight when the listener goes.
    let plan = h3_plan(addr, &cert)
        .timeout(Duration::from_secs(20))
        .wait_close(Duration::from_secs(10))
        .request(H3Request::get("/slow"));
    let before = slow.requests();
    let run = h3client::spawn(&plan).unwrap();
    assert!(slow.wait_requests(before + 1, Duration::from_secs(10)));
    gw.reload(BASE).unwrap();
    // `/shards` still shows the removed listener's table while it drains.
    let extra = format!("{n}-extra");
    let listed = || {
        let url = format!("http://{}/shards", gw.admin().unwrap());
        let doc: serde_json::Value =
            serde_json::from_slice(&tools::curl(&[&url]).unwrap().body).unwrap();
        doc["shards"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|sh| sh["quic"].as_array().unwrap().clone())
            .filter(|q| q["listener"] == extra.as_str())
            .collect::<Vec<_>>()
    };
    let draining = listed();
    assert!(
        !draining.is_empty() && draining.iter().all(|q| q["removed"] == true),
        "{draining:?}"
    );
    let open: u64 = draining
        .iter()
        .map(|q| q["busy"].as_u64().unwrap() + q["draining"].as_u64().unwrap())
        .sum();
    assert!(
        open >= 1,
        "the connection in flight is not counted: {draining:?}"
    );
    let res = run.wait().unwrap();
    let s = res.summary();
    let (c, r) = (&res.connections[0], &res.requests[0]);
    assert_eq!(r.status, Some(200), "{s}");
    assert_eq!((r.body.as_str(), &r.error), ("slow-body", &None), "{s}");
    assert!(c.goaway, "no GOAWAY: {s}");
    let done_ms = res.raw["requests"][0]["elapsed_ms"].as_f64().unwrap();
    assert!(
        c.goaway_ms.unwrap() < done_ms,
        "GOAWAY came after the response, not while it was in flight: {s}"
    );
    assert!(
        c.peer_closed,
        "the gateway did not close the connection: {s}"
    );
    assert_eq!(c.error, None, "{s}");
    // The endpoint is gone: a new connection gets no handshake.
    let late = h3client::run(&h3_plan(addr, &cert).timeout(Duration::from_secs(3))).unwrap();
    assert!(!late.connections[0].handshake_ok, "{}", late.summary());
    assert!(
        wait_until(Duration::from_secs(10), || listed().is_empty()),
        "a drained listener is still listed: {:?}",
        listed()
    );
}

/// RFC 9114 §5.2: the GOAWAY id is the first request stream not processed.
/// A request the client opens on it (or later) after the GOAWAY is rejected
/// with H3_REQUEST_REJECTED and reaches no origin, so a client may safely
/// retry it elsewhere; the request in flight finishes.
fn h3_requests_after_goaway_are_rejected(driver: Driver) {
    let cert = TestCert::new(&["extra.test"]).unwrap();
    let slow = slow_origin();
    let gw = gateway(driver, "goaway", &slow, &cert);
    let n = format!("goaway-{driver}");
    gw.reload(&format!("{BASE}{EXTRA_H3}")).unwrap();
    let addr = gw.addr(&format!("{n}-extra"));
    let plan = h3_plan(addr, &cert)
        .timeout(Duration::from_secs(20))
        .parallel(2)
        .request(H3Request::get("/slow"))
        // Opened on the next stream id (the GOAWAY's) after the GOAWAY.
        .request(H3Request::get("/slow").sleep_before(Duration::from_millis(900)));
    let before = slow.requests();
    let run = h3client::spawn(&plan).unwrap();
    assert!(slow.wait_requests(before + 1, Duration::from_secs(10)));
    gw.reload(BASE).unwrap();
    let res = run.wait().unwrap();
    let s = res.summary();
    assert!(res.connections[0].goaway, "no GOAWAY: {s}");
    assert_eq!(res.requests[0].status, Some(200), "{s}");
    assert_eq!(res.requests[1].status, None, "{s}");
    assert_eq!(
        res.requests[1].error.as_deref(),
        Some("stream_reset:0x10b"),
        "not H3_REQUEST_REJECTED: {s}"
    );
    assert_eq!(
        slow.requests(),
        before + 1,
        "the rejected request reached the origin"
    );
}

fn a_busy_port_refuses_the_reload_and_changes_nothing(driver: Driver) {
    let _lock = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["extra.test"]).unwrap();
    let slow = slow_origin();
    let gw = gateway(driver, "busy", &slow, &cert);
    let n = format!("busy-{driver}");
    let main = gw.addr(&format!("{n}-main"));
    let mut kept = Client::connect(main).unwrap();
    assert_eq!(kept.get("a", "/").unwrap().body, b"fast");
    let generation = gw.server().generation();
    let failed = failures(&gw);
    // Held without SO_REUSEPORT, as another program would.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for (extra, busy) in [
        (EXTRA_TCP, tcp.local_addr().unwrap()),
        (EXTRA_H3, udp.local_addr().unwrap()),
    ] {
        let text = format!("{BASE}{extra}").replace("${EXTRA_ADDR}", &busy.to_string());
        let err = gw.reload(&text).unwrap_err().to_string();
        assert!(
            err.contains("listener[1].address") && err.contains(&format!("{n}-extra")),
            "the error names the listener: {err}"
        );
        assert!(err.contains(&busy.to_string()), "{err}");
    }
    assert_eq!(gw.server().generation(), generation);
    assert!(gw.server().listener_addr(&format!("{n}-extra")).is_none());
    assert_eq!(failures(&gw) - failed, 2.0);
    assert_eq!(kept.get("a", "/").unwrap().body, b"fast");
    let mut fresh = Client::connect(main).unwrap();
    assert_eq!(fresh.get("a", "/").unwrap().body, b"fast");
}

/// Whether the kernel holds back a connection that sends nothing
/// (`TCP_DEFER_ACCEPT`): its server side stays `SYN-RECV` instead of
/// `ESTAB`, as `ss` shows it (the gateway's counters are shared by every
/// in-process gateway of this test binary, so they cannot tell).
fn idle_connection_deferred(addr: SocketAddr) -> bool {
    let idle = std::net::TcpStream::connect(addr).unwrap();
    let client = idle.local_addr().unwrap().port();
    let state = || {
        let out = std::process::Command::new("ss")
            .args([
                "-Htan",
                &format!("( sport = :{} and dport = :{client} )", addr.port()),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut seen = String::new();
    assert!(
        wait_until(Duration::from_secs(2), || {
            seen = state();
            seen == "SYN-RECV" || seen == "ESTAB"
        }),
        "server side of the idle connection: {seen:?}"
    );
    seen == "SYN-RECV"
}

/// A reload that changes only `backlog` and `defer_accept` of a kept TCP
/// listener sets them on its sockets in place: the port, a request in
/// flight and a keep-alive connection all stay. A reload refused for
/// another reason (a busy port) leaves the options as they were.
fn socket_options_change_in_place(driver: Driver) {
    let _lock = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["extra.test"]).unwrap();
    let slow = slow_origin();
    let gw = gateway(driver, "opts", &slow, &cert);
    let n = format!("opts-{driver}");
    let main = gw.addr(&format!("{n}-main"));
    assert_eq!(
        listen_backlogs(main.port()).unwrap(),
        vec![1024, 1024],
        "the defaults"
    );
    assert!(idle_connection_deferred(main), "defer_accept is on");
    let mut kept = Client::connect(main).unwrap();
    assert_eq!(kept.get("a", "/").unwrap().body, b"fast");
    let slow_req = in_flight(&slow, Client::connect(main).unwrap(), |c| {
        c.get("a", "/slow")
    });
    let listener = "name = \"${N}-main\"\naddress = \"127.0.0.1:0\"\n";
    let tuned = BASE.replacen(
        listener,
        &format!("{listener}backlog = 33\ndefer_accept = false\n"),
        1,
    );
    assert_ne!(tuned, BASE);
    let failed = failures(&gw);
    // Refused (a port in use for an added listener): nothing changes.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("{tuned}{EXTRA_TCP}")
        .replace("${EXTRA_ADDR}", &busy.local_addr().unwrap().to_string());
    assert!(gw.reload(&refused).is_err());
    assert_eq!(failures(&gw) - failed, 1.0);
    assert_eq!(listen_backlogs(main.port()).unwrap(), vec![1024, 1024]);
    // Accepted: the same sockets take the new options.
    gw.reload(&tuned).unwrap();
    assert_eq!(failures(&gw) - failed, 1.0);
    assert_eq!(gw.addr(&format!("{n}-main")), main);
    assert_eq!(listen_backlogs(main.port()).unwrap(), vec![33, 33]);
    assert!(!idle_connection_deferred(main), "defer_accept still on");
    let r = slow_req.join().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slow-body"[..]));
    assert_eq!(kept.get("a", "/").unwrap().body, b"fast");
    // And back.
    gw.reload(BASE).unwrap();
    assert_eq!(listen_backlogs(main.port()).unwrap(), vec![1024, 1024]);
    assert!(idle_connection_deferred(main), "defer_accept is on again");
    assert_eq!(kept.get("a", "/").unwrap().body, b"fast");
}

each_driver!(
    socket_options_change_in_place,
    tcp_listener_is_added_and_removed,
    tls_listener_is_added_and_removed,
    h3_listener_is_added_and_removed_with_goaway,
    h3_requests_after_goaway_are_rejected,
    a_busy_port_refuses_the_reload_and_changes_nothing,
);
