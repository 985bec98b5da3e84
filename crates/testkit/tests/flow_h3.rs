//! The in-flight caps and the adaptive concurrency limit over HTTP/3: the
//! same phases as HTTP/1.1 (`in_flight.rs`, `adaptive_concurrency.rs`), so a
//! request over a cap gets its 503 on its stream while the held one is
//! answered once released.

use std::net::SocketAddr;
use std::time::Duration;

use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{
    each_driver, handlers, wait_until, Driver, Gate, Gateway, Origin, TestCert,
};

const CONFIG: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "quic"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[[route]]
name = "${NAME}-capped"
path_prefix = "/capped"
proxy = "${NAME}-a"
max_in_flight = 1

[[route]]
name = "${NAME}-adaptive"
path_prefix = "/adaptive"
proxy = "${NAME}-b"

[[upstream]]
name = "${NAME}-a"
servers = ["${UP}"]

[[upstream]]
name = "${NAME}-b"
servers = ["${UP}"]
[upstream.adaptive_concurrency]
min_limit = 1
max_limit = 1
initial_limit = 1
"#;

fn shed(admin: SocketAddr, route: &str, reason: &str) -> f64 {
    scrape_sum(
        admin,
        "shardgate_requests_shed_total",
        &[("route", route), ("reason", reason)],
    )
}

fn both_limits_shed_http3_requests(driver: Driver) {
    let gate = Gate::new();
    let origin = Origin::start(handlers::gated(
        gate.clone(),
        handlers::fixed(200, &[], b"ok"),
    ))
    .unwrap();
    let cert = TestCert::new(&["localhost"]).unwrap();
    let name = format!("flowh3-{driver}");
    let gw = Gateway::builder(CONFIG)
        .var("NAME", &name)
        .var("UP", origin.addr())
        .var("CERTS", cert.toml())
        .driver(driver)
        .shards(1)
        .start()
        .unwrap();
    let admin = gw.admin().unwrap();
    let addr = gw.addr("quic");
    let two = |path: &str| {
        H3Plan::new(addr, "localhost", &cert)
            .parallel(2)
            .timeout(Duration::from_secs(60))
            .request(H3Request::get(path))
            .request(H3Request::get(path))
    };
    // Two at once on the capped route: one is held at the origin, the
    // other refused by the route's cap.
    let capped = h3client::spawn(&two("/capped")).unwrap();
    assert!(origin.wait_requests(1, Duration::from_secs(30)));
    let route = format!("{name}-capped");
    assert!(
        wait_until(Duration::from_secs(10), || shed(
            admin,
            &route,
            "route_in_flight"
        ) == 1.0),
        "the second stream is shed by the route cap"
    );
    // Two at once to the upstream whose adaptive limit is 1.
    let adaptive = h3client::spawn(&two("/adaptive")).unwrap();
    assert!(origin.wait_requests(2, Duration::from_secs(30)));
    let route = format!("{name}-adaptive");
    assert!(
        wait_until(Duration::from_secs(10), || shed(
            admin,
            &route,
            "adaptive_concurrency"
        ) == 1.0),
        "the second stream is shed by the adaptive limit"
    );
    assert_eq!(origin.requests(), 2, "nothing shed reached the origin");
    gate.open();
    for running in [capped, adaptive] {
        let res = running.wait().unwrap();
        let mut statuses = res.statuses();
        statuses.sort();
        assert_eq!(statuses, [Some(200), Some(503)], "{}", res.summary());
    }
}

each_driver!(both_limits_shed_http3_requests);
