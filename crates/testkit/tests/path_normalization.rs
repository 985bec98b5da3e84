//! Path normalization before routing (`[server] normalize_path`,
//! `merge_slashes`; RFC 3986 §6.2.2) on real sockets, HTTP/1.1 and
//! HTTP/3, both drivers: a `path_prefix` route cannot be walked around
//! with dot segments, escaped unreserved characters or doubled slashes,
//! and the origin gets the path the route matched. Switched off, the
//! target crosses as it came.

mod h3_support;

use std::time::Duration;

use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::{each_driver, handlers, Client, Driver, Gateway, Origin, TestCert};

each_driver!(
    a_prefix_route_cannot_be_walked_around,
    the_origin_gets_the_normalized_path,
    switches_turn_it_off,
    http3_paths_are_normalized_too,
);

const CONFIG: &str = r#"
[server]
normalize_path = ${NORMALIZE}
merge_slashes = ${MERGE}

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "admin"
path_prefix = "/admin/"
respond = { status = 403, body = "no\n" }

[[route]]
name = "rest"
path_prefix = "/"
proxy = "origin"

[[upstream]]
name = "origin"
servers = ["${UP}"]
"#;

fn gateway(driver: Driver, origin: &Origin, normalize: bool, merge: bool) -> Gateway {
    Gateway::builder(CONFIG)
        .var("UP", origin.addr())
        .var("NORMALIZE", normalize)
        .var("MERGE", merge)
        .driver(driver)
        .start()
        .unwrap()
}

fn origin() -> Origin {
    Origin::start(handlers::fixed(200, &[], b"from origin")).unwrap()
}

fn get(c: &mut Client, target: &str) -> u16 {
    c.request(format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
        .unwrap()
        .status
}

const AROUND_ADMIN: [&str; 8] = [
    "/foo/../admin/x",
    "/foo/%2e%2e/admin/x",
    "/foo/%2E./admin/x",
    "/./admin/x",
    "/%61dmin/x",
    "//admin/x",
    "/admin//../admin/x",
    "http://h/x/../admin/x",
];

fn a_prefix_route_cannot_be_walked_around(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin, true, true);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for target in AROUND_ADMIN {
        assert_eq!(get(&mut c, target), 403, "{target}");
    }
    assert_eq!(origin.requests(), 0, "one reached the origin");
}

fn the_origin_gets_the_normalized_path(driver: Driver) {
    let origin = origin();
    let gw = gateway(driver, &origin, true, true);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let cases = [
        ("/a/./b/../c?q=/../x", "/a/c?q=/../x"),
        ("/%7Euser/%2Fx/%41", "/~user/%2Fx/A"),
        ("/a//b///c/", "/a/b/c/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("http://h/p/../q?r", "/q?r"),
        // Already normal: byte for byte.
        ("/a/b.c/..d?e=%2e%2e", "/a/b.c/..d?e=%2e%2e"),
    ];
    for (i, (sent, want)) in cases.into_iter().enumerate() {
        assert_eq!(get(&mut c, sent), 200, "{sent}");
        assert_eq!(origin.requests(), i + 1);
        assert_eq!(origin.last().unwrap().target, want, "{sent}");
    }
}

fn switches_turn_it_off(driver: Driver) {
    // Without merging: dot segments still go, `//` stays.
    let origin = origin();
    let gw = gateway(driver, &origin, true, false);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(get(&mut c, "/foo/../admin/x"), 403);
    assert_eq!(get(&mut c, "//admin/x"), 200);
    assert_eq!(origin.last().unwrap().target, "//admin/x");
    assert_eq!(get(&mut c, "/a//../b"), 200);
    assert_eq!(origin.last().unwrap().target, "/a/b");
    drop(gw);
    // Off: routed and forwarded as it came.
    let origin = self::origin();
    let gw = gateway(driver, &origin, false, true);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for target in ["/foo/../admin/x", "/%61dmin/x", "//admin/x"] {
        assert_eq!(get(&mut c, target), 200, "{target}");
        assert_eq!(origin.last().unwrap().target, target);
    }
}

fn http3_paths_are_normalized_too(driver: Driver) {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let origin = origin();
    // The shared HTTP/3 gateway: `/static` answered by the gateway, the
    // rest proxied; normalize_path and merge_slashes at their defaults.
    let gw = h3_support::start(driver, "pn", &origin, &[&cert]);
    let addr = h3_support::listener(&gw, "pn", driver);
    let plan = H3Plan::new(addr, "localhost", &cert)
        .timeout(Duration::from_secs(15))
        .request(H3Request::get("/x/../static"))
        .request(H3Request::get("//%73tatic"))
        .request(H3Request::get("/a/%2e%2e/b/./c?d=/../e"));
    let res = h3client::run(&plan).unwrap();
    let bodies: Vec<&str> = res.requests.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(
        res.statuses(),
        [Some(200), Some(200), Some(200)],
        "{}",
        res.summary()
    );
    assert_eq!(bodies, ["static\n", "static\n", "from origin"]);
    assert_eq!(origin.requests(), 1);
    assert_eq!(origin.last().unwrap().target, "/b/c?d=/../e");
}
