//! Max-Forwards on OPTIONS and TRACE (RFC 9110 §7.6.2) through the HTTP/1.1
//! front end on real sockets, both drivers: a zero is answered by the
//! gateway and reaches no origin (TRACE reflected without credentials), a
//! count goes upstream one lower, a malformed or repeated count is 400,
//! other methods carry the field untouched, and `OPTIONS *` reaches the
//! route that owns `/`, as does an absolute-form target without a path
//! (RFC 9112 §3.2.4: `OPTIONS http://h` goes to the origin as `*`).

use shardgate_testkit::{each_driver, handlers, tools, Client, Driver, Gateway, Origin};

each_driver!(
    a_spent_count_is_answered_by_the_gateway,
    trace_reflects_the_request_without_credentials,
    a_count_goes_upstream_one_lower,
    malformed_counts_are_refused,
    other_methods_carry_the_field_untouched,
    options_asterisk_reaches_the_root_route,
    absolute_form_without_a_path_goes_upstream_as_its_form,
);

const CONFIG: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "api"
path_prefix = "/api"
proxy = "origin"

[[route]]
name = "root"
path_prefix = "/"
proxy = "origin"
response_headers = { add = { "x-route" = "root" } }

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn gateway(driver: Driver, origin: &Origin) -> Gateway {
    Gateway::builder(CONFIG)
        .var("UP", origin.addr())
        .driver(driver)
        .start()
        .unwrap()
}

fn origin() -> Origin {
    Origin::start(handlers::fixed(200, &[], b"from origin")).unwrap()
}

fn a_spent_count_is_answered_by_the_gateway(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for (method, target) in [("OPTIONS", "/api/x"), ("OPTIONS", "*"), ("TRACE", "/")] {
        let r = c
            .request(
                format!("{method} {target} HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{method} {target}");
        assert!(!r.closes(), "{method} {target}: the connection stays");
        assert!(r.header("date").is_some(), "{method} {target}");
        if method == "OPTIONS" {
            assert_eq!(r.header("content-length"), Some("0"));
            assert!(r.body.is_empty());
        }
        // The route's response edits apply to the gateway's answer too.
        let route = if target == "/api/x" {
            None
        } else {
            Some("root")
        };
        assert_eq!(r.header("x-route"), route, "{method} {target}");
    }
    assert_eq!(origin.requests(), 0, "a spent count reached the origin");
    // The same connection still proxies.
    let r = c.get("a", "/api/next").unwrap();
    assert_eq!(r.body_str(), "from origin");
    assert_eq!(origin.requests(), 1);
}

fn trace_reflects_the_request_without_credentials(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c
        .request(
            b"TRACE /api/t?q=1 HTTP/1.1\r\nHost: a.example\r\nAuthorization: Basic c2VjcmV0\r\n\
              X-Probe:  yes \r\nCookie: session=secret\r\nProxy-Authorization: Basic c2VjcmV0\r\n\
              Max-Forwards: 0\r\n\r\n",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("message/http"));
    assert_eq!(
        r.body_str(),
        "TRACE /api/t?q=1 HTTP/1.1\r\nHost: a.example\r\nX-Probe: yes\r\n\
         Max-Forwards: 0\r\n\r\n"
    );
    assert_eq!(origin.requests(), 0);

    // curl, as a user would probe: HTTP/1.0 reflects as such and closes.
    let url = format!("http://{}/api/curl", gw.addr("public"));
    let out = tools::curl(&[
        "-0",
        "-X",
        "TRACE",
        "-H",
        "Max-Forwards: 0",
        "-H",
        "Cookie: c=secret",
        "-D",
        "-",
        &url,
    ])
    .unwrap();
    assert_eq!(out.status, 200, "{}", out.stderr);
    let out = out.body_str();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("\r\nconnection: close\r\n"), "{out}");
    assert!(
        out.contains("\r\n\r\nTRACE /api/curl HTTP/1.0\r\n"),
        "{out}"
    );
    assert!(!out.contains("secret"), "{out}");
    assert_eq!(origin.requests(), 0);
}

fn a_count_goes_upstream_one_lower(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let cases = [
        ("OPTIONS", "1", "0"),
        ("TRACE", " 7 ", "6"),
        ("OPTIONS", "99999999999999999999999", "18446744073709551614"),
    ];
    for (i, (method, sent, forwarded)) in cases.into_iter().enumerate() {
        let r = c
            .request(
                format!("{method} /api/{i} HTTP/1.1\r\nHost: a\r\nMax-Forwards:{sent}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        assert_eq!(r.body_str(), "from origin", "{method} {sent:?}");
        let got = origin.last().unwrap();
        assert_eq!(got.method, method);
        assert_eq!(got.headers.get_all("max-forwards"), [forwarded], "{sent:?}");
    }
    assert_eq!(origin.requests(), cases.len());
}

fn malformed_counts_are_refused(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin);
    for fields in [
        "Max-Forwards: -1\r\n",
        "Max-Forwards: one\r\n",
        "Max-Forwards: 1, 2\r\n",
        "Max-Forwards:\r\n",
        "Max-Forwards: 3\r\nMax-Forwards: 0\r\n",
    ] {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c
            .request(format!("OPTIONS /api HTTP/1.1\r\nHost: a\r\n{fields}\r\n").as_bytes())
            .unwrap();
        assert_eq!(r.status, 400, "{fields:?}");
    }
    assert_eq!(origin.requests(), 0);
}

fn other_methods_carry_the_field_untouched(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for (method, value) in [("GET", "0"), ("POST", "junk"), ("options", "0")] {
        let r = c
            .request(
                format!(
                    "{method} /api HTTP/1.1\r\nHost: a\r\nMax-Forwards: {value}\r\n\
                     Content-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        assert_eq!(r.body_str(), "from origin", "{method}");
        let got = origin.last().unwrap();
        assert_eq!(got.headers.get_all("max-forwards"), [value], "{method}");
    }
}

fn options_asterisk_reaches_the_root_route(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c
        .request(b"OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 2\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-route"), Some("root"));
    let got = origin.last().unwrap();
    assert_eq!((got.method.as_str(), got.target.as_str()), ("OPTIONS", "*"));
    assert_eq!(got.header("max-forwards"), Some("1"));
    // Asterisk-form stays OPTIONS-only.
    let r = Client::connect(gw.addr("public"))
        .unwrap()
        .request(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(origin.requests(), 1);
}

fn absolute_form_without_a_path_goes_upstream_as_its_form(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    // RFC 9112 §3.2.4: the last proxy sends `*` for an OPTIONS whose
    // absolute-form target has an empty path and no query.
    let cases: [(&[u8], &str, &str); 4] = [
        (
            b"OPTIONS http://www.example.org:8001 HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n",
            "OPTIONS",
            "*",
        ),
        (
            b"OPTIONS http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
            "OPTIONS",
            "/",
        ),
        // An empty path with a query (RFC 9112 §3.2.1), as nginx sends it.
        (
            b"GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET",
            "/?x=1",
        ),
        (b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/"),
    ];
    for (i, (request, method, target)) in cases.into_iter().enumerate() {
        let r = c.request(request).unwrap();
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.header("x-route"), Some("root"), "{target}");
        let got = origin.last().unwrap();
        assert_eq!((got.method.as_str(), got.target.as_str()), (method, target));
        assert_eq!(origin.requests(), i + 1);
    }
}
