//! QUIC transport behaviour of an `h3` listener, seen from an aioquic client
//! (tools/h3client.py) and `/metrics`: connection migration across shards
//! (with the steering program and without it, in user space), the
//! connection table's limit and refusals, idle expiry, the GOAWAY drain on
//! stop, reloads that keep established connections, and the table gauges.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::metrics::{scrape, scrape_sum, sum};
use shardgate_testkit::{
    each_driver, handlers, wait_until, Driver, Gate, Gateway, Origin, TestCert,
};

/// Held by whoever measures a process-wide counter (they carry only a
/// `shard` label, so parallel tests would add to each other's deltas).
static COUNTERS: Mutex<()> = Mutex::new(());

const H3: &str = r#"
[admin]
address = "127.0.0.1:0"

[server]
steering = "${STEERING}"

[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]
[listener.quic]
max_connections = ${MAX}
max_idle_time = "${IDLE}"
idle_jitter = ${JITTER}
retry = ${RETRY}

[[route]]
name = "${NAME}-proxy"
proxy = "${NAME}-up"

[[upstream]]
name = "${NAME}-up"
servers = ["${UP}"]
"#;

struct Setup {
    name: String,
    steering: &'static str,
    max: usize,
    idle: &'static str,
    jitter: f64,
    shards: usize,
    retry: bool,
}

impl Setup {
    fn new(name: &str, driver: Driver) -> Setup {
        Setup {
            name: format!("{name}-{driver}"),
            steering: "hash",
            max: 64,
            idle: "30s",
            jitter: 0.15,
            shards: 1,
            retry: false,
        }
    }

    fn start(&self, driver: Driver, origin: &Origin, cert: &TestCert) -> Gateway {
        Gateway::builder(H3)
            .var("NAME", &self.name)
            .var("STEERING", self.steering)
            .var("MAX", self.max)
            .var("IDLE", self.idle)
            .var("JITTER", self.jitter)
            .var("RETRY", self.retry)
            .var("CERTS", cert.toml())
            .var("UP", origin.addr())
            .driver(driver)
            .shards(self.shards)
            .start()
            .unwrap()
    }
}

/// `shardgate_quic_connections{listener, state}` summed over shards.
fn table(gw: &Gateway, listener: &str, state: &str) -> f64 {
    scrape_sum(
        gw.admin().unwrap(),
        "shardgate_quic_connections",
        &[("listener", listener), ("state", state)],
    )
}

fn counter(gw: &Gateway, name: &str) -> f64 {
    scrape_sum(gw.admin().unwrap(), name, &[])
}

each_driver!(
    migrated_connections_keep_working_across_shards,
    migration_without_steering_is_redirected_in_user_space,
    a_full_table_refuses_new_connections_fast,
    idle_connections_expire,
    stop_drains_in_flight_requests_and_takes_no_new_connections,
    reload_keeps_established_connections,
    metrics_show_handshakes_and_table_slots,
    stateless_retry_comes_before_every_new_connection,
    post_quantum_client_hellos_stay_on_their_shard,
    flow_control_windows_are_bounded,
);

/// A post-quantum key share makes the ClientHello span two Initial
/// datagrams, which only the client's DCID ties together: with 2 shards both
/// must reach the same one. h3load (quinn + rustls) offers X25519MLKEM768
/// only (`--pq`); aioquic cannot. With the steering program no datagram is
/// redirected; without it the redirect keeps every handshake whole.
///
/// Without the program a connection is mis-steered when the kernel's
/// 4-tuple hash and its DCID disagree on the shard: a coin flip per
/// connection. 24 connections leave a 2^-24 chance that none is (8 left
/// 1 in 256, and CI hit it once).
fn post_quantum_client_hellos_stay_on_their_shard(driver: Driver) {
    const CONNECTIONS: u32 = 24;
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"pq")).unwrap();
    for steering in ["hash", "none"] {
        let mut s = Setup::new(&format!("pq-{steering}"), driver);
        s.shards = 2;
        s.steering = steering;
        let gw = s.start(driver, &origin, &cert);
        let _guard = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
        let redirected = counter(&gw, "shardgate_quic_packets_redirected_total");
        let handshakes = counter(&gw, "shardgate_quic_handshakes_total");
        let addr = gw.addr(&s.name);
        let out = std::process::Command::new(shardgate_testkit::binary::h3load_binary().unwrap())
            .args([
                "-c",
                &CONNECTIONS.to_string(),
                "-s",
                "2",
                "-d",
                "2s",
                "--pq",
                "--sni",
                "localhost",
                "--cacert",
            ])
            .arg(&cert.cert)
            .arg("--url")
            .arg(format!("https://127.0.0.1:{}/pq", addr.port()))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = stdout
            .lines()
            .find_map(|l| l.strip_prefix("H3LOAD_JSON "))
            .unwrap_or_else(|| {
                panic!(
                    "no result line: {stdout} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let r: serde_json::Value = serde_json::from_str(json).unwrap();
        assert!(r["requests"].as_u64().unwrap_or(0) > 0, "{steering}: {r}");
        assert_eq!(r["non2xx"], 0, "{steering}: {r}");
        assert!(
            r["errors"].as_object().is_none_or(|e| e.is_empty()),
            "{steering}: {r}"
        );
        assert!(
            counter(&gw, "shardgate_quic_handshakes_total") - handshakes >= f64::from(CONNECTIONS),
            "{steering}: fewer than {CONNECTIONS} handshakes completed"
        );
        let moved = counter(&gw, "shardgate_quic_packets_redirected_total") - redirected;
        match steering {
            "hash" => assert_eq!(moved, 0.0, "the steering program missed datagrams"),
            _ => assert!(moved > 0.0, "without the program nothing was redirected"),
        }
    }
}

fn stateless_retry_comes_before_every_new_connection(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let mut s = Setup::new("retry", driver);
    s.retry = true;
    s.shards = 2;
    let gw = s.start(driver, &origin, &cert);
    let _guard = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    let retries = counter(&gw, "shardgate_quic_retries_total");
    let handshakes = counter(&gw, "shardgate_quic_handshakes_total");
    let plan = H3Plan::new(gw.addr(&s.name), "localhost", &cert)
        .connections(4)
        .request(H3Request::get("/a"))
        .request(H3Request::get("/b"));
    let res = h3client::run(&plan).unwrap();
    assert!(
        res.statuses().iter().all(|st| *st == Some(200)),
        "{}",
        res.summary()
    );
    // One Retry per connection: the client's first Initial carries no token.
    assert!(
        counter(&gw, "shardgate_quic_retries_total") - retries >= 4.0,
        "no stateless retry was sent"
    );
    assert!(counter(&gw, "shardgate_quic_handshakes_total") - handshakes >= 4.0);
}

/// What one client can make a shard buffer is bounded: the connection's
/// receive window is set (quinn's default is unlimited, leaving only streams ×
/// stream window, 125 MB), and HTTP/3 datagrams, which nothing reads, are not
/// offered.
fn flow_control_windows_are_bounded(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let s = Setup::new("windows", driver);
    let gw = s.start(driver, &origin, &cert);
    let plan = H3Plan::new(gw.addr(&s.name), "localhost", &cert).request(H3Request::get("/"));
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    let c = &res.connections[0];
    assert_eq!(c.peer_max_data, Some(5_000_000), "{}", res.summary());
    assert_eq!(c.peer_max_stream_data_bidi, Some(1_250_000));
    assert_eq!(c.peer_max_datagram_frame_size, None);
}

fn migration_plan(gw: &Gateway, s: &Setup, cert: &TestCert) -> H3Plan {
    let mut plan = H3Plan::new(gw.addr(&s.name), "localhost", cert)
        .connections(8)
        .rebind_after(2)
        .timeout(Duration::from_secs(40));
    for i in 0..6 {
        plan = plan.request(H3Request::get(&format!("/m/{i}")));
    }
    plan
}

fn assert_migrated(res: &h3client::H3Results) {
    let s = res.summary();
    for c in &res.connections {
        assert!(c.handshake_ok, "{s}");
        assert!(c.migrated, "a connection did not migrate:\n{s}");
        assert!(c.local_ports.len() >= 3, "{s}");
    }
    for r in &res.requests {
        assert!(
            r.status.is_some_and(|st| (200..300).contains(&st)) && r.error.is_none(),
            "{s}"
        );
    }
    // Requests after each rebind went out from the new port.
    assert!(res
        .requests
        .iter()
        .any(|r| r.index >= 4
            && r.local_port != res.connections[r.conn].local_ports.first().copied()));
}

fn migrated_connections_keep_working_across_shards(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let mut s = Setup::new("migrate", driver);
    s.shards = 2;
    let gw = s.start(driver, &origin, &cert);
    let res = h3client::run(&migration_plan(&gw, &s, &cert)).unwrap();
    assert_migrated(&res);
    assert_eq!(origin.requests(), 48);
}

fn migration_without_steering_is_redirected_in_user_space(driver: Driver) {
    let _g = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let mut s = Setup::new("nosteer", driver);
    s.shards = 2;
    s.steering = "none";
    let gw = s.start(driver, &origin, &cert);
    let before = counter(&gw, "shardgate_quic_packets_redirected_total");
    let res = h3client::run(&migration_plan(&gw, &s, &cert)).unwrap();
    assert_migrated(&res);
    let redirected = counter(&gw, "shardgate_quic_packets_redirected_total") - before;
    // 8 connections × 2 rebinds to new ports: the kernel's hash sends some
    // of them to the shard that does not own the connection.
    assert!(
        redirected > 0.0,
        "no datagram was redirected between shards"
    );
    assert_eq!(
        counter(&gw, "shardgate_quic_redirect_dropped_total"),
        0.0,
        "redirected datagrams were dropped"
    );
}

fn a_full_table_refuses_new_connections_fast(driver: Driver) {
    let _g = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let cert = TestCert::new(&["localhost"]).unwrap();
    let gate = Gate::new();
    let origin = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"held"),
    ))
    .unwrap();
    let mut s = Setup::new("full", driver);
    s.max = 2;
    let gw = s.start(driver, &origin, &cert);
    let addr = gw.addr(&s.name);
    let before = counter(&gw, "shardgate_quic_refused_total");
    // Two connections held open by a request the origin holds.
    let held = h3client::spawn(&H3Plan::new(addr, "localhost", &cert).connections(2)).unwrap();
    assert!(
        origin.wait_requests(2, Duration::from_secs(15)),
        "held requests never arrived"
    );
    assert_eq!(table(&gw, &s.name, "busy"), 2.0);
    let t0 = Instant::now();
    let third =
        h3client::run(&H3Plan::new(addr, "localhost", &cert).timeout(Duration::from_secs(8)))
            .unwrap();
    let took = t0.elapsed();
    let c = &third.connections[0];
    assert!(
        !c.handshake_ok,
        "a third connection got a slot: {}",
        third.summary()
    );
    assert!(
        took < Duration::from_secs(4),
        "refusal took {took:?} (not fast): {}",
        third.summary()
    );
    assert!(counter(&gw, "shardgate_quic_refused_total") - before >= 1.0);
    gate.open();
    let res = held.wait().unwrap();
    assert!(res.ok, "{}", res.summary());
    assert!(
        wait_until(Duration::from_secs(5), || table(&gw, &s.name, "busy")
            == 0.0),
        "slots not freed"
    );
    let again = h3client::run(&H3Plan::new(addr, "localhost", &cert)).unwrap();
    assert!(again.ok, "after the table emptied: {}", again.summary());
}

fn idle_connections_expire(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"ok")).unwrap();
    let mut s = Setup::new("idle", driver);
    s.idle = "1s";
    s.jitter = 0.2;
    let gw = s.start(driver, &origin, &cert);
    // The client's own idle timeout is far longer: whatever closes the
    // connection is the gateway's 1 s (± 20 %).
    let plan = H3Plan::new(gw.addr(&s.name), "localhost", &cert)
        .idle_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(6))
        .request(H3Request::get("/first"))
        .request(H3Request::get("/after-idle").sleep_before(Duration::from_millis(2500)));
    let run = h3client::spawn(&plan).unwrap();
    assert!(origin.wait_requests(1, Duration::from_secs(10)));
    let t0 = Instant::now();
    assert_eq!(table(&gw, &s.name, "busy"), 1.0);
    let freed = wait_until(Duration::from_secs(4), || {
        table(&gw, &s.name, "busy") == 0.0
    });
    let took = t0.elapsed();
    assert!(
        freed,
        "the idle connection still holds its slot after {took:?}"
    );
    assert!(
        took <= Duration::from_millis(1500),
        "freed {took:?} after the last request; max_idle_time 1s ± 20 %"
    );
    assert!(
        took >= Duration::from_millis(700),
        "freed after {took:?}: before it was idle"
    );
    let res = run.wait().unwrap();
    let second = &res.requests[1];
    assert_eq!(
        second.status,
        None,
        "a request on an expired connection was answered: {}",
        res.summary()
    );
    assert!(second.error.is_some());
    assert_eq!(origin.requests(), 1);
}

fn stop_drains_in_flight_requests_and_takes_no_new_connections(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let gate = Gate::new();
    let origin = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"drained"),
    ))
    .unwrap();
    let s = Setup::new("drain", driver);
    let mut gw = s.start(driver, &origin, &cert);
    let addr = gw.addr(&s.name);
    let in_flight =
        h3client::spawn(&H3Plan::new(addr, "localhost", &cert).request(H3Request::get("/slow")))
            .unwrap();
    assert!(origin.wait_requests(1, Duration::from_secs(10)));
    gw.shutdown();
    let t0 = Instant::now();
    let late =
        h3client::run(&H3Plan::new(addr, "localhost", &cert).timeout(Duration::from_secs(3)))
            .unwrap();
    let took = t0.elapsed();
    assert_eq!(
        late.requests[0].status,
        None,
        "a new connection was served during the drain: {}",
        late.summary()
    );
    gate.open();
    let res = in_flight.wait().unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.body, "drained");
    assert_eq!(r.error, None);
    gw.join();
    assert_eq!(origin.requests(), 1);
    eprintln!(
        "new connection during drain: {:?} after {took:?}",
        late.connections[0].error
    );
}

/// The reload adds a route; everything else stays as `H3` has it (routes
/// match most specific first, so its place at the end does not matter).
const NEW_ROUTE: &str = r#"
[[route]]
name = "${NAME}-new"
path_prefix = "/new"
respond = { status = 200, body = "new route\n" }
"#;

fn reload_keeps_established_connections(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let s = Setup::new("reload", driver);
    let gw = s.start(driver, &origin, &cert);
    let plan = H3Plan::new(gw.addr(&s.name), "localhost", &cert)
        .timeout(Duration::from_secs(15))
        .request(H3Request::get("/new/before"))
        .request(H3Request::get("/new/after").sleep_before(Duration::from_millis(1500)));
    let run = h3client::spawn(&plan).unwrap();
    assert!(origin.wait_requests(1, Duration::from_secs(10)));
    gw.reload(&format!("{H3}{NEW_ROUTE}")).unwrap();
    let res = run.wait().unwrap();
    let s = res.summary();
    assert!(res.ok, "{s}");
    let (before, after) = (&res.requests[0], &res.requests[1]);
    assert_eq!(before.header("x-echo-target"), Some("/new/before"), "{s}");
    assert_eq!(
        after.body, "new route\n",
        "the second request did not see the reload: {s}"
    );
    let c = &res.connections[0];
    assert_eq!(c.local_ports.len(), 1);
    // One connection, never re-established (the client does not reconnect):
    // both requests went over the connection made before the reload.
    assert!(c.handshake_ok && c.error.is_none(), "{s}");
    assert_eq!(origin.requests(), 1);
}

fn metrics_show_handshakes_and_table_slots(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let gate = Gate::new();
    let origin = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"m"),
    ))
    .unwrap();
    let mut s = Setup::new("qmetrics", driver);
    s.max = 16;
    s.shards = 2;
    let gw = s.start(driver, &origin, &cert);
    let run =
        h3client::spawn(&H3Plan::new(gw.addr(&s.name), "localhost", &cert).connections(3)).unwrap();
    assert!(origin.wait_requests(3, Duration::from_secs(10)));
    let text = scrape(gw.admin().unwrap()).unwrap();
    let l = [("listener", s.name.as_str())];
    let state = |st: &str| sum(&text, "shardgate_quic_connections", &[l[0], ("state", st)]);
    assert!(
        sum(&text, "shardgate_quic_handshakes_total", &[]).0 >= 3.0,
        "{text}"
    );
    // One series per shard and state.
    assert_eq!(state("busy"), (3.0, 2), "{text}");
    assert_eq!(state("idle"), (2.0 * 16.0 - 3.0, 2), "{text}");
    assert_eq!(state("draining").0, 0.0);
    gate.open();
    assert!(run.wait().unwrap().ok);
    assert!(wait_until(Duration::from_secs(5), || {
        table(&gw, &s.name, "busy") == 0.0 && table(&gw, &s.name, "idle") == 32.0
    }));
}

/// A foreign socket already in the UDP group shifts every index of the
/// steering program: the start-up self-test must refuse to serve, with a
/// message naming the cause, instead of mis-steering every datagram.
#[test]
fn a_foreign_socket_in_the_group_stops_the_start_with_a_clear_error() {
    use socket2::{Domain, Protocol, Socket, Type};
    let foreign = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    foreign.set_reuse_port(true).unwrap();
    foreign
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let port = foreign.local_addr().unwrap().as_socket().unwrap().port();
    let cert = TestCert::new(&["localhost"]).unwrap();
    let toml = format!(
        r#"
[[listener]]
name = "taken"
address = "127.0.0.1:{port}"
protocol = "h3"
[listener.tls]
certificates = [{}]

[[route]]
respond = {{ status = 200 }}
"#,
        cert.toml()
    );
    let err = match Gateway::builder(&toml).shards(2).start() {
        Ok(_) => panic!("the gateway started on a group with a foreign member"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("steering self-test") && err.contains("taken"),
        "unclear error: {err}"
    );
}
