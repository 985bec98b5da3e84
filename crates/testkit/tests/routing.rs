//! Route selection and head rewriting on real sockets.

use shardgate_testkit::{each_driver, handler, handlers, After, Client, Driver, Gateway, Origin};

/// Each respond route answers with its own name, so the body says which won.
const ROUTES: &str = r#"
[[listener]]
name = "a"
address = "127.0.0.1:0"

[[listener]]
name = "b"
address = "127.0.0.1:0"

[[listener]]
name = "strict"
address = "127.0.0.1:0"

[[route]]
name = "exact"
hosts = ["example.com"]
respond = { status = 200, body = "exact" }

[[route]]
name = "exact-api"
hosts = ["example.com"]
path_prefix = "/api/"
respond = { status = 200, body = "exact-api" }

[[route]]
name = "exact-api-v2"
hosts = ["example.com"]
path_prefix = "/api/v2/"
respond = { status = 200, body = "exact-api-v2" }

[[route]]
name = "wild"
hosts = ["*.example.com"]
respond = { status = 200, body = "wild" }

[[route]]
name = "wild-deep"
hosts = ["*.a.example.com"]
respond = { status = 200, body = "wild-deep" }

[[route]]
name = "only-images"
hosts = ["img.test"]
path_prefix = "/images/"
respond = { status = 200, body = "only-images" }

[[route]]
name = "any-a"
listeners = ["a"]
respond = { status = 200, body = "any-a" }

[[route]]
name = "any-b"
listeners = ["b"]
respond = { status = 200, body = "any-b" }

[[route]]
name = "b-host"
listeners = ["b"]
hosts = ["example.com"]
path_prefix = "/b/"
respond = { status = 200, body = "b-host" }

[[route]]
name = "strict-only"
listeners = ["strict"]
hosts = ["known.test"]
respond = { status = 201, body = "strict-only", headers = { "content-type" = "text/plain", "x-custom" = "yes", "cache-control" = "no-store" } }
response_headers = { add = { "x-added" = "1" } }
"#;

fn body_of(c: &mut Client, host: &str, path: &str) -> (u16, String) {
    let r = c.get(host, path).unwrap();
    (r.status, r.body_str())
}

fn host_and_prefix_precedence(driver: Driver) {
    let gw = Gateway::builder(ROUTES).driver(driver).start().unwrap();
    let mut a = Client::connect(gw.addr("a")).unwrap();
    let cases = [
        ("example.com", "/", "exact"),
        ("example.com", "/api/x", "exact-api"),
        ("example.com", "/api/v2/x", "exact-api-v2"),
        ("example.com", "/api", "exact"),
        ("www.example.com", "/api/x", "wild"),
        ("x.a.example.com", "/", "wild-deep"),
        ("a.example.com", "/", "wild"),
        ("other.test", "/", "any-a"),
        // The host class only wins when one of its prefixes matches.
        ("img.test", "/images/1.png", "only-images"),
        ("img.test", "/css/x.css", "any-a"),
        // Port and case do not matter; a trailing dot neither.
        ("EXAMPLE.COM:8080", "/api/v2/", "exact-api-v2"),
        ("Www.Example.Com:80", "/", "wild"),
        ("example.com.", "/", "exact"),
    ];
    for (host, path, want) in cases {
        assert_eq!(
            body_of(&mut a, host, path),
            (200, want.to_string()),
            "{host}{path}"
        );
    }
}

fn absolute_form_target_uses_its_authority(driver: Driver) {
    // RFC 9112 §3.2.2: the authority in an absolute-form target wins over Host.
    let gw = Gateway::builder(ROUTES).driver(driver).start().unwrap();
    let mut a = Client::connect(gw.addr("a")).unwrap();
    let r = a
        .request(b"GET http://example.com/api/v2/x HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "exact-api-v2"));
    let r = a
        .request(b"GET http://www.example.com/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
        .unwrap();
    assert_eq!((r.status, r.body_str().as_str()), (200, "wild"));
}

fn routes_are_per_listener(driver: Driver) {
    let gw = Gateway::builder(ROUTES).driver(driver).start().unwrap();
    let mut b = Client::connect(gw.addr("b")).unwrap();
    assert_eq!(body_of(&mut b, "other.test", "/"), (200, "any-b".into()));
    assert_eq!(
        body_of(&mut b, "example.com", "/b/x"),
        (200, "b-host".into())
    );
    assert_eq!(body_of(&mut b, "example.com", "/"), (200, "exact".into()));
    // A route bound to listener b is never chosen on a.
    let mut a = Client::connect(gw.addr("a")).unwrap();
    assert_eq!(body_of(&mut a, "other.test", "/"), (200, "any-a".into()));
    assert_eq!(
        body_of(&mut a, "example.com", "/b/x"),
        (200, "exact".into())
    );
}

fn unknown_host_is_404_and_respond_headers_are_sent(driver: Driver) {
    let gw = Gateway::builder(ROUTES).driver(driver).start().unwrap();
    let mut c = Client::connect(gw.addr("strict")).unwrap();
    let r = c.get("unknown.test", "/").unwrap();
    assert_eq!(r.status, 404);
    // A 404 without a request body keeps the connection.
    let r = c.get("known.test", "/anything").unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"strict-only");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-custom"), Some("yes"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-added"), Some("1"));
    assert_eq!(r.header("content-length"), Some("11"));
    // HEAD on a respond route: same head, no body.
    let r = c
        .request(b"HEAD / HTTP/1.1\r\nHost: known.test\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-length"), Some("11"));
    assert_eq!(c.get("known.test", "/").unwrap().status, 201);
}

fn header_rewrites_both_ways(driver: Driver) {
    let origin = Origin::start(handler(|req, r| {
        let body = handlers::echo_body(req);
        r.write(&handlers::response_bytes(
            200,
            &[
                ("x-internal", "secret"),
                ("x-served-by", "origin"),
                ("x-keep", "k"),
            ],
            &body,
        ))?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"
request_headers = { remove = ["x-debug"], set = { "X-Env" = "prod", "host" = "backend.internal" }, add = { "x-tag" = "gw" } }
response_headers = { remove = ["x-internal"], set = { "x-served-by" = "gateway" }, add = { "x-extra" = "1" } }

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#,
    )
    .var("UP", origin.addr())
    .driver(driver)
    .start()
    .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c
        .request(b"GET /h HTTP/1.1\r\nHost: public.example\r\nX-Debug: 1\r\nx-env: dev\r\nX-Tag: client\r\nX-Keep-Me: yes\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    let got = origin.last().unwrap();
    assert!(!got.headers.has("x-debug"), "{:?}", got.headers);
    assert_eq!(got.headers.get_all("x-env"), ["prod"]);
    assert_eq!(got.headers.get_all("x-tag"), ["client", "gw"]);
    assert_eq!(got.header("x-keep-me"), Some("yes"));
    assert_eq!(got.headers.get_all("host"), ["backend.internal"]);
    // Response side.
    assert!(!r.headers.has("x-internal"));
    assert_eq!(r.headers.get_all("x-served-by"), ["gateway"]);
    assert_eq!(r.header("x-extra"), Some("1"));
    assert_eq!(r.header("x-keep"), Some("k"));
}

fn forwarding_headers(driver: Driver) {
    let origin = Origin::start(handler(|_, r| {
        r.write(b"HTTP/1.1 200 OK\r\nvia: 1.0 cache\r\ncontent-length: 0\r\n\r\n")?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"
forwarded = { x_forwarded_for = true, x_forwarded_proto = true, forwarded = true, via = true }

[[route]]
path_prefix = "/plain/"
proxy = "origin"
forwarded = { x_forwarded_for = false, x_forwarded_proto = false }

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#,
    )
    .var("UP", origin.addr())
    .driver(driver)
    .start()
    .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c
        .request(b"GET / HTTP/1.1\r\nHost: site.test:81\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nForwarded: for=198.51.100.1\r\nVia: 1.0 edge\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    let got = origin.last().unwrap();
    assert_eq!(
        got.headers.get_all("x-forwarded-for"),
        ["203.0.113.9, 127.0.0.1"]
    );
    // Several client fields fold into one list, in order.
    let r2 = c
        .request(b"GET / HTTP/1.1\r\nHost: site.test\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n")
        .unwrap();
    assert_eq!(r2.status, 200);
    assert_eq!(
        origin.last().unwrap().headers.get_all("x-forwarded-for"),
        ["1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"]
    );
    // The scheme is the listener's, whatever the client claimed.
    assert_eq!(got.headers.get_all("x-forwarded-proto"), ["http"]);
    assert_eq!(
        got.headers.get_all("forwarded"),
        ["for=198.51.100.1, for=127.0.0.1;proto=http;host=\"site.test:81\""]
    );
    assert_eq!(got.headers.get_all("via"), ["1.0 edge, 1.1 shardgate"]);
    assert_eq!(r.headers.get_all("via"), ["1.0 cache, 1.1 shardgate"]);

    // A client value with an open quote or comment would swallow the
    // gateway's element once joined: the client's values are dropped and
    // the gateway's stands alone, well-formed.
    let r = c
        .request(b"GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=1.1.1.1\r\nForwarded: for=\"6.6.6.6\r\nVia: 1.1 evil (x\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    let got = origin.last().unwrap();
    assert_eq!(
        got.headers.get_all("forwarded"),
        ["for=127.0.0.1;proto=http;host=\"h\""]
    );
    assert_eq!(got.headers.get_all("via"), ["1.1 shardgate"]);

    // A route with them switched off passes the client's fields through untouched.
    let r = c
        .request(
            b"GET /plain/x HTTP/1.1\r\nHost: site.test\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let got = origin.last().unwrap();
    assert_eq!(got.headers.get_all("x-forwarded-for"), ["203.0.113.9"]);
    assert!(!got.headers.has("x-forwarded-proto"));
    assert!(!got.headers.has("forwarded"));
    assert!(!got.headers.has("via"));
    assert_eq!(r.headers.get_all("via"), ["1.0 cache"]);
}

fn hop_by_hop_headers_are_removed_both_ways(driver: Driver) {
    let origin = Origin::start(handler(|_, r| {
        r.write(
            b"HTTP/1.1 200 OK\r\nConnection: x-secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n\
              Proxy-Connection: keep-alive\r\nTrailer: x-t\r\nX-Public: p\r\ncontent-length: 2\r\n\r\nok",
        )?;
        Ok(After::KeepAlive)
    }))
    .unwrap();
    let gw = Gateway::builder(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#,
    )
    .var("UP", origin.addr())
    .driver(driver)
    .start()
    .unwrap();
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c
        .request(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop, x-other-hop\r\nX-Hop: 1\r\nX-Other-Hop: 2\r\n\
              Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: x-t\r\nX-End-To-End: e\r\n\r\n",
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    let got = origin.last().unwrap();
    for name in [
        "x-hop",
        "x-other-hop",
        "keep-alive",
        "proxy-connection",
        "trailer",
    ] {
        assert!(
            !got.headers.has(name),
            "{name} reached the origin: {:?}",
            got.headers
        );
    }
    // The proxy may send its own Connection / TE, but never the client's tokens.
    assert!(!got.headers.lists("connection", "x-hop"));
    assert!(!got.headers.lists("connection", "x-other-hop"));
    assert_eq!(got.header("x-end-to-end"), Some("e"));
    for name in ["x-secret", "keep-alive", "proxy-connection", "trailer"] {
        assert!(
            !r.headers.has(name),
            "{name} reached the client: {:?}",
            r.headers
        );
    }
    assert!(!r.headers.lists("connection", "x-secret"));
    assert_eq!(r.header("x-public"), Some("p"));
}

each_driver!(
    host_and_prefix_precedence,
    absolute_form_target_uses_its_authority,
    routes_are_per_listener,
    unknown_host_is_404_and_respond_headers_are_sent,
    header_rewrites_both_ways,
    forwarding_headers,
    hop_by_hop_headers_are_removed_both_ways,
);
