//! HTTP/3 requests end to end: an aioquic client (tools/h3client.py) against
//! an `h3` listener, routes to in-process HTTP/1.1 origins. Methods and
//! bodies (with and without a length, large both ways, trailers), forwarding
//! fields, concurrent streams, SNI, static answers and the gateway's own
//! errors, and the access log. Malformed requests: `h3_malformed.rs`.

use std::path::Path;
use std::time::Duration;

mod h3_support;

use h3_support::{listener, start};
use serde_json::Value;
use shardgate_testkit::h3client::{self, pattern, sha256_hex, H3Plan, H3Request};
use shardgate_testkit::tools::TempDir;
use shardgate_testkit::{
    closed_addr, each_driver, handler, handlers, wait_until, After, Driver, Framing, Gateway,
    Origin, TestCert,
};

const MIB: usize = 1 << 20;

/// Answers `len sha256` of the request body it received.
fn digest_origin() -> Origin {
    Origin::start(handler(|req, r| {
        let body = format!("{} {}", req.body.len(), sha256_hex(&req.body));
        r.write(&handlers::response_bytes(200, &[], body.as_bytes()))?;
        Ok(After::KeepAlive)
    }))
    .unwrap()
}

each_driver!(
    get_and_post_are_proxied_with_forwarding_fields,
    post_without_length_reaches_the_origin_chunked,
    via_names_http3_as_the_received_protocol,
    download_50_mib_arrives_intact,
    upload_10_mib_arrives_intact,
    request_trailers_are_forwarded_upstream,
    response_trailers_from_a_chunked_origin_reach_the_client,
    concurrent_streams_on_several_connections,
    sni_picks_the_certificate,
    upstream_connections_are_pooled_across_requests,
    https_responses_advertise_the_h3_listener,
    static_answers_and_gateway_errors_over_h3,
    access_log_says_http3,
);

fn get_and_post_are_proxied_with_forwarding_fields(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "getpost", &origin, &[&cert]);
    let plan = H3Plan::new(listener(&gw, "getpost", driver), "localhost", &cert)
        .request(H3Request::get("/hello?x=1").header("user-agent", "h3test"))
        .request(H3Request::post("/submit").body("name=value"));
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    assert_eq!(res.connections[0].alpn.as_deref(), Some("h3"));
    let (get, post) = (&res.requests[0], &res.requests[1]);
    assert_eq!(get.status, Some(200), "{}", res.summary());
    assert_eq!(get.header("x-echo-method"), Some("GET"));
    assert_eq!(get.header("x-echo-target"), Some("/hello?x=1"));
    assert_eq!(post.status, Some(200));
    assert!(post.body.ends_with("\n\nname=value"), "{}", post.body);

    let got = origin.received();
    assert_eq!(got.len(), 2);
    let (g, p) = (&got[0], &got[1]);
    assert_eq!(
        (g.method.as_str(), g.target.as_str()),
        ("GET", "/hello?x=1")
    );
    assert_eq!(g.header("host"), Some("localhost"), "host = :authority");
    assert_eq!(g.header("user-agent"), Some("h3test"));
    assert_eq!(g.framing, Framing::None);
    assert_eq!(g.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(g.header("x-forwarded-proto"), Some("https"));
    let fwd = g.header("forwarded").unwrap_or_default();
    assert!(
        fwd.contains("for=127.0.0.1") && fwd.contains("proto=https"),
        "{fwd}"
    );
    let via = g.header("via").unwrap_or_default();
    assert!(via.ends_with("shardgate"), "via: {via:?}");
    assert!(get.header("via").is_some_and(|v| v.contains("shardgate")));
    assert_eq!((p.method.as_str(), p.target.as_str()), ("POST", "/submit"));
    assert_eq!(p.framing, Framing::Length(10));
    assert_eq!(p.body, b"name=value");
    assert_eq!(p.header("content-length"), Some("10"));
}

fn post_without_length_reaches_the_origin_chunked(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = digest_origin();
    let gw = start(driver, "chunkedpost", &origin, &[&cert]);
    let body = pattern(200_000);
    let plan = H3Plan::new(listener(&gw, "chunkedpost", driver), "localhost", &cert)
        .request(H3Request::post("/small").body("abc").no_content_length())
        .request(
            H3Request::post("/big")
                .body_size(body.len() as u64)
                .no_content_length(),
        );
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    assert_eq!(res.requests[0].body, format!("3 {}", sha256_hex(b"abc")));
    assert_eq!(
        res.requests[1].body,
        format!("{} {}", body.len(), sha256_hex(&body))
    );
    let got = origin.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.framing, Framing::Chunked, "{}", r.target);
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert!(r.header("content-length").is_none());
        assert!(r.complete);
    }
    assert_eq!(got[0].body, b"abc");
    assert_eq!(got[1].body, body);
}

/// RFC 9110 §7.6.3: Via's received-protocol is the protocol of the request
/// the proxy received: "3" (or "HTTP/3") for an HTTP/3 request.
fn via_names_http3_as_the_received_protocol(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "via", &origin, &[&cert]);
    let plan = H3Plan::new(listener(&gw, "via", driver), "localhost", &cert);
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    let via = origin
        .last()
        .unwrap()
        .header("via")
        .unwrap_or_default()
        .to_string();
    assert!(
        via == "3 shardgate" || via == "HTTP/3 shardgate",
        "upstream request's Via names the received protocol as {via:?}"
    );
}

fn download_50_mib_arrives_intact(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let body = pattern(50 * MIB);
    let want = sha256_hex(&body);
    let origin = Origin::start(handlers::content_length(body)).unwrap();
    let gw = start(driver, "download", &origin, &[&cert]);
    let plan = H3Plan::new(listener(&gw, "download", driver), "localhost", &cert)
        .timeout(Duration::from_secs(90))
        .keep_body(0)
        .request(H3Request::get("/big"));
    let res = h3client::run(&plan).unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.error, None);
    assert_eq!(r.body_len, 50 * MIB as u64);
    assert_eq!(r.body_sha256, want);
    assert_eq!(r.header("content-length"), Some("52428800"));
}

fn upload_10_mib_arrives_intact(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = digest_origin();
    let gw = start(driver, "upload", &origin, &[&cert]);
    let body = pattern(10 * MIB);
    let want = format!("{} {}", body.len(), sha256_hex(&body));
    let plan = H3Plan::new(listener(&gw, "upload", driver), "localhost", &cert)
        .timeout(Duration::from_secs(60))
        .request(H3Request::post("/up").body_size(body.len() as u64));
    let res = h3client::run(&plan).unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.sent_len, body.len() as u64);
    assert_eq!(r.body, want);
    let got = origin.last().unwrap();
    assert_eq!(got.framing, Framing::Length(body.len() as u64));
    assert_eq!(got.body.len(), body.len());
}

fn request_trailers_are_forwarded_upstream(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "reqtrailers", &origin, &[&cert]);
    let plan = H3Plan::new(listener(&gw, "reqtrailers", driver), "localhost", &cert).request(
        H3Request::post("/t")
            .body("payload")
            .no_content_length()
            .trailers(&[("x-checksum", "1234"), ("x-done", "yes")]),
    );
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    let got = origin.last().unwrap();
    assert_eq!(got.framing, Framing::Chunked);
    assert_eq!(got.body, b"payload");
    assert!(got.complete);
    assert_eq!(
        got.trailers.get("x-checksum"),
        Some("1234"),
        "{:?}",
        got.trailers
    );
    assert_eq!(got.trailers.get("x-done"), Some("yes"));
    let raw = String::from_utf8_lossy(&got.raw_body).to_string();
    assert!(
        raw.ends_with("0\r\nx-checksum: 1234\r\nx-done: yes\r\n\r\n"),
        "{raw:?}"
    );
}

fn response_trailers_from_a_chunked_origin_reach_the_client(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::chunked(
        vec![b"hello ".to_vec(), b"world".to_vec()],
        vec![("x-checksum".into(), "abcd".into())],
    ))
    .unwrap();
    let gw = start(driver, "resptrailers", &origin, &[&cert]);
    let plan = H3Plan::new(listener(&gw, "resptrailers", driver), "localhost", &cert);
    let res = h3client::run(&plan).unwrap();
    let r = &res.requests[0];
    assert_eq!(r.status, Some(200), "{}", res.summary());
    assert_eq!(r.body, "hello world");
    assert!(r.header("transfer-encoding").is_none());
    // RFC 9114 §4.1: trailers travel in a trailing HEADERS frame.
    assert_eq!(
        r.trailers,
        Some(vec![("x-checksum".to_string(), "abcd".to_string())]),
        "the chunked origin's trailer fields did not reach the HTTP/3 client"
    );
}

fn concurrent_streams_on_several_connections(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "concurrent", &origin, &[&cert]);
    let mut plan = H3Plan::new(listener(&gw, "concurrent", driver), "localhost", &cert)
        .connections(4)
        .parallel(8);
    for i in 0..16 {
        plan = plan.request(H3Request::get(&format!("/c/{i}")));
    }
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    assert_eq!(res.requests.len(), 64);
    for r in &res.requests {
        assert_eq!(r.status, Some(200));
        assert_eq!(
            r.header("x-echo-target"),
            Some(format!("/c/{}", r.index).as_str()),
            "stream answered with another stream's response"
        );
    }
    assert_eq!(origin.requests(), 64);
}

fn sni_picks_the_certificate(driver: Driver) {
    let a = TestCert::new(&["a.test"]).unwrap();
    let b = TestCert::new(&["b.test"]).unwrap();
    let origin = Origin::start(handlers::echo()).unwrap();
    let gw = start(driver, "sni", &origin, &[&a, &b]);
    let addr = listener(&gw, "sni", driver);
    for (name, cert) in [("a.test", &a), ("b.test", &b)] {
        let res = h3client::run(&H3Plan::new(addr, name, cert)).unwrap();
        assert!(res.ok, "{name}: {}", res.summary());
        let c = &res.connections[0];
        assert_eq!(c.cert_sans, vec![name.to_string()], "{name}");
        assert_eq!(origin.last().unwrap().header("host"), Some(name));
    }
    // Verified against a's certificate, b.test's handshake must fail.
    let res =
        h3client::run(&H3Plan::new(addr, "b.test", &a).timeout(Duration::from_secs(5))).unwrap();
    assert!(!res.connections[0].handshake_ok, "{}", res.summary());
}

const ERRORS: &str = r#"
[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[[route]]
path_prefix = "/static"
respond = { status = 201, body = "made\n", headers = { x-static = "1" } }

[[route]]
path_prefix = "/down"
proxy = "down"

[[route]]
path_prefix = "/hang"
proxy = "hang"

[[upstream]]
name = "down"
servers = ["${DOWN}"]

[[upstream]]
name = "hang"
servers = ["${HANG}"]
response_timeout = "300ms"
"#;

fn static_answers_and_gateway_errors_over_h3(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let hang = Origin::start(handlers::black_hole()).unwrap();
    let name = format!("errors-{driver}");
    let gw = Gateway::builder(ERRORS)
        .var("NAME", &name)
        .var("CERTS", cert.toml())
        .var("DOWN", closed_addr().unwrap())
        .var("HANG", hang.addr())
        .driver(driver)
        .start()
        .unwrap();
    let plan = H3Plan::new(gw.addr(&name), "localhost", &cert)
        .request(H3Request::get("/static/x"))
        .request(H3Request::post("/static/y").body("ignored"))
        .request(H3Request::get("/nothing-here"))
        .request(H3Request::get("/down"))
        .request(H3Request::get("/hang"));
    let res = h3client::run(&plan).unwrap();
    let s = res.summary();
    let r = &res.requests;
    assert_eq!(
        res.statuses(),
        vec![Some(201), Some(201), Some(404), Some(502), Some(504)],
        "{s}"
    );
    assert_eq!(r[0].body, "made\n");
    assert_eq!(r[0].header("x-static"), Some("1"));
    for x in r {
        assert_eq!(x.error, None, "{s}");
    }
    assert_eq!(hang.requests(), 1);
}

const LOGGED: &str = r#"
[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[access_log]
path = "${LOG}"
format = "json"

[[route]]
name = "${NAME}-proxy"
proxy = "${NAME}-up"

[[upstream]]
name = "${NAME}-up"
servers = ["${UP}"]
"#;

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

fn access_log_says_http3(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"logged")).unwrap();
    let dir = TempDir::new("h3log").unwrap();
    let log = dir.path().join("access.log");
    let name = format!("h3log-{driver}");
    let gw = Gateway::builder(LOGGED)
        .var("NAME", &name)
        .var("CERTS", cert.toml())
        .var("LOG", log.display())
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let plan = H3Plan::new(gw.addr(&name), "localhost", &cert)
        .request(H3Request::get("/logged/h3?q=1").header("user-agent", "h3client"));
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    let mut line = Value::Null;
    let found = wait_until(Duration::from_secs(5), || {
        match json_lines(&log).into_iter().find(|l| {
            l["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/logged/h3"))
                || l["target"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/logged/h3"))
        }) {
            Some(l) => {
                line = l;
                true
            }
            None => false,
        }
    });
    assert!(
        found,
        "no access-log line: {:?}",
        std::fs::read_to_string(&log)
    );
    assert_eq!(line["protocol"], "HTTP/3", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["route"], format!("{name}-proxy"), "{line}");
    assert_eq!(line["tls_version"], "TLSv1.3", "{line}");
    assert_eq!(line["sni"], "localhost", "{line}");
    // The request's own wall-clock time, not the epoch.
    let time = line["time"].as_str().unwrap_or_default();
    assert!(
        time.starts_with("20") && !time.starts_with("1970"),
        "{line}"
    );
}

/// HTTP/3 requests share the upstream keep-alive pool: ten requests one
/// after another (bodies of every framing) use one origin connection.
fn upstream_connections_are_pooled_across_requests(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"pooled")).unwrap();
    let gw = start(driver, "pooled", &origin, &[&cert]);
    let mut plan = H3Plan::new(listener(&gw, "pooled", driver), "localhost", &cert);
    for i in 0..5 {
        plan = plan
            .request(H3Request::get(&format!("/get/{i}")))
            .request(H3Request::post(&format!("/post/{i}")).body("x"));
    }
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    assert_eq!(origin.requests(), 10);
    assert_eq!(
        origin.connections(),
        1,
        "every request after the first should reuse the pooled upstream connection"
    );
}

const ADVERTISED: &str = r#"
[[listener]]
name = "${NAME}-h3"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[[listener]]
name = "${NAME}-https"
address = "127.0.0.1:0"
[listener.tls]
certificates = [${CERTS}]
alt_svc = "${NAME}-h3"

[[route]]
path_prefix = "/static"
respond = { status = 200, body = "static" }

[[route]]
proxy = "up"

[[upstream]]
name = "up"
servers = ["${UP}"]
"#;

/// A TLS-over-TCP listener with `alt_svc` names its h3 listener's bound port
/// in `Alt-Svc` on proxied and static answers, and a client that follows it
/// gets the same route over HTTP/3.
fn https_responses_advertise_the_h3_listener(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = Origin::start(handlers::fixed(200, &[], b"origin")).unwrap();
    let name = format!("altsvc-{driver}");
    let gw = Gateway::builder(ADVERTISED)
        .var("NAME", &name)
        .var("CERTS", cert.toml())
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap();
    let h3_port = gw.addr(&format!("{name}-h3")).port();
    let https = gw.addr(&format!("{name}-https")).port();
    let want = format!("h3=\":{h3_port}\"; ma=86400");
    for path in ["/proxied", "/static"] {
        let out = shardgate_testkit::tools::curl(&[
            "--cacert",
            cert.cert.to_str().unwrap(),
            "--resolve",
            &format!("localhost:{https}:127.0.0.1"),
            "-D",
            "-",
            &format!("https://localhost:{https}{path}"),
        ])
        .unwrap();
        assert_eq!(out.status, 200, "{}", out.stderr);
        let head = String::from_utf8_lossy(&out.body).to_ascii_lowercase();
        assert!(
            head.contains(&format!("alt-svc: {want}")),
            "{path}: no alt-svc naming port {h3_port}: {head}"
        );
    }
    let res = h3client::run(
        &H3Plan::new(gw.addr(&format!("{name}-h3")), "localhost", &cert)
            .request(H3Request::get("/static")),
    )
    .unwrap();
    assert_eq!(res.requests[0].status, Some(200), "{}", res.summary());
}
