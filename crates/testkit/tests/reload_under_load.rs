//! Connections on kept listeners are not touched by reloads that add and
//! remove other listeners and change routes and upstreams (issue 11), and
//! the proof the issue asks for: 100 reloads while wrk, a WebSocket client
//! and an aioquic client run → no failed or reset request, the WebSocket and
//! QUIC connections still open at the end, a broken file refused and
//! counted. Both drivers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::tools::{wrk_with_timeout, TempDir};
use shardgate_testkit::{each_driver, handlers, Client, Driver, Gateway, Origin, TestCert};

/// Held by the test that reads `shardgate_config_reload_failures_total`.
static COUNTERS: Mutex<()> = Mutex::new(());

/// `${V}`, `${UPS}` and `${EXTRA}` are filled per reload by [`generation`].
const CONFIG: &str = r#"
[admin]
address = "127.0.0.1:0"

[server]
steering = "hash"

[[listener]]
name = "${N}-main"
address = "127.0.0.1:0"

[[listener]]
name = "${N}-quic"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]
[listener.quic]
max_connections = 64
${EXTRA}
[[route]]
name = "${N}-ws"
path_prefix = "/ws"
proxy = "${N}-ws"

[[route]]
name = "${N}-v"
path_prefix = "/v"
respond = { status = 200, body = "${V}" }

[[route]]
name = "${N}-up"
proxy = "${N}-up"

[[upstream]]
name = "${N}-ws"
servers = ["${WS}"]

[[upstream]]
name = "${N}-up"
servers = [${UPS}]
"#;

struct Origins {
    a: Origin,
    b: Origin,
    ws: Origin,
}

impl Origins {
    fn start() -> Origins {
        Origins {
            a: Origin::start(handlers::fixed(200, &[], b"a")).unwrap(),
            b: Origin::start(handlers::fixed(200, &[], b"b")).unwrap(),
            ws: Origin::start(handlers::upgrade_echo()).unwrap(),
        }
    }
}

/// Reload `i`'s config: its own `/v` body, upstream servers that alternate
/// (a, b, both), and another listener that comes and goes under a new name
/// each time (TCP, or h3 every fifth), so every reload adds or removes one.
fn generation(i: usize, o: &Origins, cert: &TestCert) -> String {
    let ups = match i % 3 {
        0 => format!("\"{}\"", o.a.addr()),
        1 => format!("\"{}\"", o.b.addr()),
        _ => format!("\"{}\", \"{}\"", o.a.addr(), o.b.addr()),
    };
    let extra = match i % 10 {
        5 => format!(
            "[[listener]]\nname = \"${{N}}-x{i}\"\naddress = \"127.0.0.1:0\"\nprotocol = \"h3\"\n\
             [listener.tls]\ncertificates = [{}]\n[listener.quic]\nmax_connections = 16\n",
            cert.toml()
        ),
        k if k % 2 == 1 => {
            format!("[[listener]]\nname = \"${{N}}-x{i}\"\naddress = \"127.0.0.1:0\"\n")
        }
        _ => String::new(),
    };
    CONFIG
        .replace("${V}", &format!("v{i}"))
        .replace("${UPS}", &ups)
        .replace("${EXTRA}", &extra)
}

fn start(driver: Driver, name: &str, o: &Origins, cert: &TestCert) -> Gateway {
    Gateway::builder(&generation(0, o, cert))
        .var("N", format!("{name}-{driver}"))
        .var("WS", o.ws.addr())
        .var("CERTS", cert.toml())
        .driver(driver)
        .shards(2)
        .start()
        .unwrap()
}

/// A WebSocket through the gateway (the origin echoes after `101`).
fn websocket(gw: &Gateway, main: &str) -> Client {
    let mut c = Client::connect(gw.addr(main)).unwrap();
    c.send(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    assert_eq!(c.head().unwrap().status, 101);
    c
}

fn echo(ws: &mut Client, i: usize) {
    let msg = format!("m{i:06}");
    ws.send(msg.as_bytes()).unwrap();
    assert_eq!(ws.read_exact(msg.len()).unwrap(), msg.as_bytes());
}

fn long_lived_connections_survive_reloads(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let o = Origins::start();
    let gw = start(driver, "survive", &o, &cert);
    let main = format!("survive-{driver}-main");
    let mut ws = websocket(&gw, &main);
    let mut kept = Client::connect(gw.addr(&main)).unwrap();
    assert_eq!(kept.get("a", "/v").unwrap().body, b"v0");
    let quic = h3client::spawn(
        &H3Plan::new(
            gw.addr(&format!("survive-{driver}-quic")),
            "localhost",
            &cert,
        )
        .timeout(Duration::from_secs(60))
        .request(H3Request::get("/v"))
        .request(H3Request::get("/v").sleep_before(Duration::from_secs(3))),
    )
    .unwrap();
    for i in 1..=20 {
        gw.reload(&generation(i, &o, &cert)).unwrap();
        echo(&mut ws, i);
        let r = kept.get("a", "/v").unwrap();
        assert_eq!(
            r.body_str(),
            format!("v{i}"),
            "the kept connection sees reload {i}"
        );
        assert!(!r.closes());
        assert_eq!(kept.get("a", "/").unwrap().status, 200);
    }
    let res = quic.wait().unwrap();
    let s = res.summary();
    assert!(res.ok, "{s}");
    let c = &res.connections[0];
    assert!(!c.goaway && !c.peer_closed && c.error.is_none(), "{s}");
    assert_eq!(o.ws.connections(), 1, "the WebSocket was never re-opened");
    echo(&mut ws, 999);
}

fn failures(gw: &Gateway) -> f64 {
    scrape_sum(
        gw.admin().unwrap(),
        "shardgate_config_reload_failures_total",
        &[],
    )
}

/// Gap between reloads: 100 of them take ~20 s plus their own time.
const PACE: Duration = Duration::from_millis(200);
/// wrk runs longer than the reloads (checked).
const WRK_SECS: u32 = 45;

fn hundred_reloads_under_load_fail_no_request(driver: Driver) {
    let _lock = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let o = Origins::start();
    let gw = start(driver, "proof", &o, &cert);
    let main = format!("proof-{driver}-main");
    let url = gw.url(&main, "/");
    let t0 = Instant::now();
    // A generous per-request bound: the machine is shared; a request that
    // hangs for good still shows up as a timeout.
    let load = thread::spawn(move || {
        wrk_with_timeout(&url, WRK_SECS, 16, 1, Some(Duration::from_secs(10))).unwrap()
    });
    // One QUIC connection sending a request every 150 ms for longer than
    // the reloads last.
    let mut plan = H3Plan::new(gw.addr(&format!("proof-{driver}-quic")), "localhost", &cert)
        .timeout(Duration::from_secs(120));
    for _ in 0..300 {
        plan = plan.request(H3Request::get("/").sleep_before(Duration::from_millis(150)));
    }
    let quic = h3client::spawn(&plan).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut ws = websocket(&gw, &main);
    let echoes = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                echo(&mut ws, n);
                n += 1;
                thread::sleep(Duration::from_millis(50));
            }
            (ws, n)
        })
    };
    let failed = failures(&gw);
    let dir = TempDir::new("reload").unwrap();
    let broken = dir.write("broken.toml", "[[listener]\nname = ").unwrap();
    let mut extra_served = 0;
    for i in 1..=100 {
        if i == 50 {
            let err = gw.server().reload_file(&broken).unwrap_err();
            assert!(err.to_string().contains("broken.toml"), "{err}");
        }
        gw.reload(&generation(i, &o, &cert)).unwrap();
        let mut fresh = Client::connect(gw.addr(&main)).unwrap();
        assert_eq!(fresh.get("a", "/v").unwrap().body_str(), format!("v{i}"));
        if i % 2 == 1 && i % 10 != 5 {
            // The listener this reload added serves at once.
            let mut c = Client::connect(gw.addr(&format!("proof-{driver}-x{i}"))).unwrap();
            assert_eq!(c.get("a", "/").unwrap().status, 200);
            extra_served += 1;
        }
        thread::sleep(PACE);
    }
    let reloads_took = t0.elapsed();
    assert!(
        reloads_took < Duration::from_secs(u64::from(WRK_SECS)),
        "the reloads ({reloads_took:?}) outlasted wrk: the run proves nothing"
    );
    assert_eq!(failures(&gw) - failed, 1.0, "the broken file is counted");
    let report = load.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let (mut ws, n) = echoes.join().unwrap();
    echo(&mut ws, n);
    let res = quic.wait().unwrap();
    let s = res.summary();
    eprintln!(
        "{driver}: 100 reloads in {reloads_took:?}; wrk {} requests, non-2xx {}, socket errors {:?}; \
         {n} WebSocket echoes; {} HTTP/3 requests; {extra_served} added listeners served",
        report.requests,
        report.non_2xx_3xx,
        report.socket_errors,
        res.requests.len()
    );
    assert!(report.requests > 0, "{}", report.output);
    assert_eq!(report.non_2xx_3xx, 0, "{}", report.output);
    assert_eq!(report.socket_errors, [0; 4], "{}", report.output);
    assert!(res.ok, "{s}");
    let c = &res.connections[0];
    assert!(c.error.is_none() && !c.goaway && !c.peer_closed, "{s}");
    let quic_ms = res.raw["connections"][0]["elapsed_ms"].as_f64().unwrap();
    assert!(
        Duration::from_secs_f64(quic_ms / 1000.0) > reloads_took,
        "the QUIC connection ended before the reloads did: {s}"
    );
    assert_eq!(o.ws.connections(), 1, "the WebSocket was never re-opened");
}

each_driver!(
    long_lived_connections_survive_reloads,
    hundred_reloads_under_load_fail_no_request,
);
