//! `[route.retry]` and `[route.timeouts]` over HTTP/3 (aioquic client): the
//! core rule on the second front end, whose body upload and replay are its
//! own code. Requests of a plan run one after the other on one connection;
//! the upstream is round robin on one shard.

mod retry_support;

use retry_support::{answers, count, resets, servers, weighted, Rig};
use shardgate_testkit::h3client::{self, pattern, sha256_hex, H3Plan, H3Request};
use shardgate_testkit::{each_driver, handler, handlers, After, Driver, Gateway, Origin, TestCert};

each_driver!(
    get_retried_on_503_reaches_another_server,
    post_is_not_sent_twice_once_its_body_went_upstream,
    put_with_a_kept_body_is_retried_on_reset_and_arrives_intact,
    a_route_response_timeout_gives_504,
);

const H3: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[[route]]
name = "${NAME}"
proxy = "${NAME}"
${ROUTE}

[[upstream]]
name = "${NAME}"
lb = "${LB}"
servers = [${SERVERS}]
"#;

fn start(
    driver: Driver,
    tag: &str,
    cert: &TestCert,
    addrs: &[std::net::SocketAddr],
    route: &str,
) -> Rig {
    start_lb(driver, tag, cert, "round_robin", &servers(addrs), route)
}

fn start_lb(
    driver: Driver,
    tag: &str,
    cert: &TestCert,
    lb: &str,
    servers: &str,
    route: &str,
) -> Rig {
    let name = format!("h3{tag}-{driver}");
    let gw = Gateway::builder(H3)
        .var("NAME", &name)
        .var("CERTS", cert.toml())
        .var("LB", lb)
        .var("SERVERS", servers)
        .var("ROUTE", route)
        .driver(driver)
        .start()
        .unwrap();
    Rig { gw, name }
}

fn plan(rig: &Rig, cert: &TestCert) -> H3Plan {
    H3Plan::new(rig.addr(&rig.name), "localhost", cert)
}

/// `200` whose body is `METHOD TARGET LEN`.
fn receipt() -> shardgate_testkit::Handler {
    handler(|req, r| {
        let body = format!("{} {} {}", req.method, req.target, req.body.len());
        r.write(&handlers::response_bytes(
            200,
            &[("x-from", "ok")],
            body.as_bytes(),
        ))?;
        Ok(After::KeepAlive)
    })
}

fn get_retried_on_503_reaches_another_server(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let busy = Origin::start(answers(503, "busy")).unwrap();
    let ok = Origin::start(receipt()).unwrap();
    // Weighted 3:1: without leaving out the server already tried, the
    // balancer would send the first retry to the busy server again.
    let gw = start_lb(
        driver,
        "get503",
        &cert,
        "weighted_round_robin",
        &weighted(&[(busy.addr(), 3), (ok.addr(), 1)]),
        "[route.retry]\non = [\"503\"]",
    );
    let p = plan(&gw, &cert)
        .request(H3Request::get("/g0"))
        .request(H3Request::get("/g1"));
    let res = h3client::run(&p).unwrap();
    assert!(res.ok, "{}", res.summary());
    for (i, r) in res.requests.iter().enumerate() {
        assert_eq!(r.status, Some(200), "{}", res.summary());
        assert_eq!(r.header("x-from"), Some("ok"));
        // Both start at the busy server (busy, busy, ok, … without retries).
        let t = format!("/g{i}");
        assert_eq!(
            count(&busy, &t),
            1,
            "{t}: the server that said 503 sees it once"
        );
        assert_eq!(count(&ok, &t), 1, "{t}");
    }
    assert_eq!(gw.retries("503"), 2.0);
}

fn post_is_not_sent_twice_once_its_body_went_upstream(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let busy = Origin::start(answers(503, "busy")).unwrap();
    let ok = Origin::start(receipt()).unwrap();
    let route = r#"[route.retry]
on = ["connect-failure", "reset", "502", "503", "504"]
buffer_body = "64KiB""#;
    let gw = start(driver, "post", &cert, &[busy.addr(), ok.addr()], route);
    let p = plan(&gw, &cert).request(H3Request::post("/pay").body("amount=10"));
    let res = h3client::run(&p).unwrap();
    let r = &res.requests[0];
    // The origin's own 503, once.
    assert_eq!(r.status, Some(503), "{}", res.summary());
    assert_eq!(r.header("x-from"), Some("busy"));
    let got = busy.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, b"amount=10");
    assert_eq!(ok.requests(), 0, "a POST must not reach an origin twice");
    assert_eq!(gw.retries("503"), 0.0);
}

fn put_with_a_kept_body_is_retried_on_reset_and_arrives_intact(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let route = "[route.retry]\non = [\"reset\"]\nbuffer_body = \"64KiB\"";
    let n = 40_000;
    let want = pattern(n);
    // One gateway per request: a server that reset is left alone for a
    // while (reconnect backoff), so each request must start at it afresh.
    for (tag, req, retried) in [
        (
            "length",
            H3Request::new("PUT", "/length").body_size(n as u64),
            true,
        ),
        (
            "streamed",
            H3Request::new("PUT", "/streamed")
                .body_size(n as u64)
                .no_content_length(),
            true,
        ),
        // Over buffer_body: not kept, so not sent again.
        (
            "large",
            H3Request::new("PUT", "/large").body_size(100_000),
            false,
        ),
    ] {
        let reset = Origin::start(resets()).unwrap();
        let ok = Origin::start(handler(|req, r| {
            // The whole body back, to compare byte for byte.
            r.write(&handlers::response_bytes(
                200,
                &[("x-from", "ok")],
                &req.body,
            ))?;
            Ok(After::KeepAlive)
        }))
        .unwrap();
        let gw = start(
            driver,
            &format!("put{tag}"),
            &cert,
            &[reset.addr(), ok.addr()],
            route,
        );
        let res = h3client::run(&plan(&gw, &cert).request(req)).unwrap();
        let s = res.summary();
        let r = &res.requests[0];
        assert_eq!(reset.requests(), 1, "{tag}: {s}");
        if !retried {
            assert_eq!(r.status, Some(502), "{tag}: {s}");
            assert_eq!(ok.requests(), 0, "{tag}");
            assert_eq!(gw.retries("reset"), 0.0);
            continue;
        }
        assert_eq!(r.status, Some(200), "{tag}: {s}");
        assert_eq!(r.body_len, n as u64, "{tag}: {s}");
        assert_eq!(
            r.body_sha256,
            sha256_hex(&want),
            "{tag}: the replay differs"
        );
        let sent = ok.received();
        assert_eq!(sent.len(), 1, "{tag}");
        assert!(
            sent[0].body == want,
            "{tag}: what reached the origin differs"
        );
        assert_eq!(gw.retries("reset"), 1.0);
    }
}

fn a_route_response_timeout_gives_504(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let hang = Origin::start(handlers::black_hole()).unwrap();
    let route = "[route.timeouts]\nresponse_timeout = \"300ms\"";
    let gw = start(driver, "timeout", &cert, &[hang.addr()], route);
    let t0 = std::time::Instant::now();
    let res = h3client::run(&plan(&gw, &cert).request(H3Request::get("/slow"))).unwrap();
    assert_eq!(res.statuses(), vec![Some(504)], "{}", res.summary());
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(hang.requests(), 1);
}
