//! Access log lines end to end: the real server writes them for real requests
//! (proxied, answered by a `respond` route, unrouted), in JSON and in the
//! combined format; routes can turn them off; the file can be rotated (in
//! process and with `SIGUSR1` on the binary); request ids reach both the
//! upstream and the log.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use shardgate_testkit::binary::Running;
use shardgate_testkit::{
    each_driver, free_port, handlers, tools, wait_until, Client, Driver, Gateway, Origin, Request,
};

const SETTLE: Duration = Duration::from_secs(5);

/// A proxy route under `/api/`, a `respond` route under `/static`, a quiet
/// `respond` route under `/quiet`; anything else is unrouted (404).
const GW: &str = r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[access_log]
path = "${LOG}"
format = "${FORMAT}"

[[route]]
name = "${NAME}-static"
path_prefix = "/static"
respond = { status = 200, body = "static\n" }

[[route]]
name = "${NAME}-quiet"
path_prefix = "/quiet"
access_log = false
respond = { status = 200, body = "quiet\n" }

[[route]]
name = "${NAME}-proxy"
path_prefix = "/api/"
proxy = "${NAME}-up"

[[upstream]]
name = "${NAME}-up"
servers = ["${UP}"]
"#;

fn start(driver: Driver, toml: &str, name: &str, log: &Path, format: &str, up: &Origin) -> Gateway {
    Gateway::builder(toml)
        .var("LOG", log.display())
        .var("FORMAT", format)
        .var("NAME", format!("{name}-{driver}"))
        .var("UP", up.addr())
        .driver(driver)
        .start()
        .unwrap()
}

/// Sends `request` (which asks for `connection: close`) on a new connection
/// and returns every byte the gateway sent back, and the client's port.
fn exchange(addr: SocketAddr, request: &[u8]) -> (Vec<u8>, u16) {
    let mut c = Client::connect(addr).unwrap();
    let port = c.local_addr().unwrap().port();
    c.send(request).unwrap();
    let bytes = c.read_to_close().unwrap();
    assert!(!bytes.is_empty(), "no response to {request:?}");
    (bytes, port)
}

fn status_of(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a response: {text:?}"))
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn json_lines(path: &Path) -> Vec<Value> {
    read_lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// The only line whose `path` is `target`.
fn line_for<'a>(lines: &'a [Value], target: &str) -> &'a Value {
    let found: Vec<&Value> = lines.iter().filter(|l| l["path"] == target).collect();
    assert_eq!(found.len(), 1, "lines for {target}: {lines:#?}");
    found[0]
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every `x-request-id` field the origin received on this request.
fn ids(req: &Request) -> Vec<String> {
    req.headers
        .get_all("x-request-id")
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn the_request(origin: &Origin, target: &str) -> Request {
    let found: Vec<Request> = origin
        .received()
        .into_iter()
        .filter(|r| r.target == target)
        .collect();
    assert_eq!(found.len(), 1, "origin requests for {target}");
    found.into_iter().next().unwrap()
}

fn json_lines_have_exact_fields(driver: Driver) {
    let dir = tools::TempDir::new("alog-json").unwrap();
    let log = dir.path().join("access.log");
    let origin =
        Origin::start(handlers::fixed(200, &[("x-from", "origin")], b"proxied\n")).unwrap();
    let mut gw = start(driver, GW, "json", &log, "json", &origin);
    let addr = gw.addr("public");
    let name = format!("json-{driver}");

    let get = b"GET /api/get?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: agent/1.0 (test)\r\nReferer: http://ref.example/page\r\nX-Request-Id: client-id-123\r\nConnection: close\r\n\r\n";
    let post = b"POST /api/post HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let missing = b"GET /missing HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";
    let stat = b"GET /static/file HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n";
    let (get_resp, get_port) = exchange(addr, get);
    let (post_resp, post_port) = exchange(addr, post);
    let (missing_resp, missing_port) = exchange(addr, missing);
    let (stat_resp, stat_port) = exchange(addr, stat);
    assert_eq!(status_of(&get_resp), 200);
    assert_eq!(status_of(&post_resp), 200);
    assert_eq!(status_of(&missing_resp), 404);
    assert_eq!(status_of(&stat_resp), 200);
    gw.stop();

    let lines = json_lines(&log);
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let origin_addr = origin.addr().to_string();
    let time = Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    for l in &lines {
        assert!(time.is_match(l["time"].as_str().unwrap()), "{l}");
        assert_eq!(l["client"], "127.0.0.1", "{l}");
        assert_eq!(l["protocol"], "HTTP/1.1", "{l}");
        assert_eq!(l["tls"], false, "{l}");
        assert!(l["duration"].as_f64().is_some_and(|d| d >= 0.0), "{l}");
    }
    for served in ["/api/get?x=1", "/api/post", "/static/file"] {
        let l = line_for(&lines, served);
        for absent in ["error", "error_side", "errno"] {
            assert!(l.get(absent).is_none(), "{absent}: {l}");
        }
    }

    // The GET through the proxy, with the client's id, agent and referer.
    let g = line_for(&lines, "/api/get?x=1");
    assert_eq!(g["client_port"], get_port, "{g}");
    assert_eq!(g["method"], "GET", "{g}");
    assert_eq!(g["host"], "example.test", "{g}");
    assert_eq!(g["status"], 200, "{g}");
    assert_eq!(g["bytes_received"], get.len(), "{g}");
    assert_eq!(g["bytes_sent"], get_resp.len(), "{g}");
    assert_eq!(g["route"], format!("{name}-proxy"), "{g}");
    assert_eq!(g["upstream"], format!("{name}-up"), "{g}");
    assert_eq!(g["upstream_addr"], origin_addr, "{g}");
    assert_eq!(g["upstream_attempts"], 1, "{g}");
    assert_eq!(g["upstream_reused"], false, "{g}");
    assert!(g["upstream_connect"].as_f64().is_some(), "{g}");
    assert!(g["upstream_first_byte"].as_f64().is_some(), "{g}");
    assert_eq!(g["request_id"], "client-id-123", "{g}");
    assert_eq!(g["user_agent"], "agent/1.0 (test)", "{g}");
    assert_eq!(g["referer"], "http://ref.example/page", "{g}");
    assert_eq!(
        ids(&the_request(&origin, "/api/get?x=1")),
        ["client-id-123"],
        "a sane client id is forwarded unchanged, once"
    );

    // The POST: its body counts in bytes_received; its id was generated.
    let p = line_for(&lines, "/api/post");
    let sent = the_request(&origin, "/api/post");
    assert_eq!(sent.body, b"hello");
    assert_eq!(p["client_port"], post_port, "{p}");
    assert_eq!(p["method"], "POST", "{p}");
    assert_eq!(p["status"], 200, "{p}");
    assert_eq!(p["bytes_received"], post.len(), "{p}");
    assert_eq!(p["bytes_sent"], post_resp.len(), "{p}");
    assert_eq!(p["route"], format!("{name}-proxy"), "{p}");
    assert_eq!(p["upstream"], format!("{name}-up"), "{p}");
    assert_eq!(p["upstream_addr"], origin_addr, "{p}");
    // Reused exactly when the origin saw it on its first connection.
    assert_eq!(p["upstream_reused"], sent.conn == 0, "{p}");
    let sent_ids = ids(&sent);
    assert_eq!(sent_ids.len(), 1, "{sent_ids:?}");
    assert!(is_hex32(&sent_ids[0]), "{sent_ids:?}");
    assert_eq!(p["request_id"], sent_ids[0], "{p}");
    assert!(p.get("user_agent").is_none(), "{p}");
    assert!(p.get("referer").is_none(), "{p}");

    // Unrouted: 404 under "(none)", no upstream fields.
    let m = line_for(&lines, "/missing");
    assert_eq!(m["client_port"], missing_port, "{m}");
    assert_eq!(m["method"], "GET", "{m}");
    assert_eq!(m["status"], 404, "{m}");
    assert_eq!(m["route"], "(none)", "{m}");
    assert_eq!(m["error"], "no_route", "{m}");
    assert_eq!(m["error_side"], "client", "{m}");
    assert_eq!(m["bytes_received"], missing.len(), "{m}");
    assert_eq!(m["bytes_sent"], missing_resp.len(), "{m}");
    for absent in [
        "upstream",
        "upstream_addr",
        "upstream_attempts",
        "upstream_reused",
    ] {
        assert!(m.get(absent).is_none(), "{absent}: {m}");
    }

    // Answered by a respond route.
    let s = line_for(&lines, "/static/file");
    assert_eq!(s["client_port"], stat_port, "{s}");
    assert_eq!(s["host"], "other.test", "{s}");
    assert_eq!(s["status"], 200, "{s}");
    assert_eq!(s["route"], format!("{name}-static"), "{s}");
    assert_eq!(s["bytes_received"], stat.len(), "{s}");
    assert_eq!(s["bytes_sent"], stat_resp.len(), "{s}");
    assert!(s.get("upstream").is_none(), "{s}");
    assert!(s.get("upstream_addr").is_none(), "{s}");
    assert_eq!(origin.requests(), 2);
}

fn combined_lines_are_apache_combined(driver: Driver) {
    let dir = tools::TempDir::new("alog-combined").unwrap();
    let log = dir.path().join("access.log");
    let origin = Origin::start(handlers::fixed(200, &[], b"proxied\n")).unwrap();
    let mut gw = start(driver, GW, "combined", &log, "combined", &origin);
    let addr = gw.addr("public");

    let get = b"GET /api/a?b=c HTTP/1.1\r\nHost: example.test\r\nUser-Agent: agent/2.0\r\nReferer: http://ref.example/\r\nConnection: close\r\n\r\n";
    let quoted = b"GET /static/q\"x HTTP/1.1\r\nHost: example.test\r\nUser-Agent: say \"hi\" \\o/\r\nConnection: close\r\n\r\n";
    let missing = b"HEAD /missing HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";
    let (get_resp, _) = exchange(addr, get);
    let (quoted_resp, _) = exchange(addr, quoted);
    let (missing_resp, _) = exchange(addr, missing);
    assert_eq!(status_of(&get_resp), 200);
    let quoted_status = status_of(&quoted_resp);
    assert_eq!(status_of(&missing_resp), 404);
    gw.stop();

    let lines = read_lines(&log);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let re = Regex::new(
        r#"^(\S+) - - \[(\d{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$"#,
    )
    .unwrap();
    let parsed: Vec<[String; 5]> = lines
        .iter()
        .map(|l| {
            let c = re
                .captures(l)
                .unwrap_or_else(|| panic!("not combined format: {l:?}"));
            assert_eq!(&c[1], "127.0.0.1", "{l}");
            [4, 5, 6, 7, 8].map(|i| c[i].to_string())
        })
        .collect();
    let find = |request_line: &str| -> [String; 5] {
        let found: Vec<&[String; 5]> = parsed.iter().filter(|p| p[0] == request_line).collect();
        assert_eq!(found.len(), 1, "{request_line}: {lines:#?}");
        found[0].clone()
    };
    assert_eq!(
        find("GET /api/a?b=c HTTP/1.1"),
        [
            "GET /api/a?b=c HTTP/1.1".to_string(),
            "200".into(),
            get_resp.len().to_string(),
            "http://ref.example/".into(),
            "agent/2.0".into(),
        ]
    );
    // `"` and `\` are written as nginx does: \x22 and \x5C.
    assert_eq!(
        find(r"GET /static/q\x22x HTTP/1.1"),
        [
            r"GET /static/q\x22x HTTP/1.1".to_string(),
            quoted_status.to_string(),
            quoted_resp.len().to_string(),
            "-".into(),
            r"say \x22hi\x22 \x5Co/".into(),
        ]
    );
    assert_eq!(
        find("HEAD /missing HTTP/1.1"),
        [
            "HEAD /missing HTTP/1.1".to_string(),
            "404".into(),
            missing_resp.len().to_string(),
            "-".into(),
            "-".into(),
        ]
    );
}

fn route_can_turn_its_lines_off(driver: Driver) {
    let dir = tools::TempDir::new("alog-quiet").unwrap();
    let log = dir.path().join("access.log");
    let origin = Origin::start(handlers::fixed(200, &[], b"proxied\n")).unwrap();
    let mut gw = start(driver, GW, "quiet", &log, "json", &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for path in [
        "/quiet/1",
        "/static/loud",
        "/quiet/2",
        "/api/loud",
        "/quiet/3",
    ] {
        assert_eq!(c.get("example.test", path).unwrap().status, 200, "{path}");
    }
    drop(c);
    gw.stop();
    let lines = json_lines(&log);
    let paths: Vec<&str> = lines.iter().map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/static/loud", "/api/loud"], "{lines:#?}");
}

fn reopen_after_rename_writes_a_new_file(driver: Driver) {
    let dir = tools::TempDir::new("alog-rotate").unwrap();
    let log = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let origin = Origin::start(handlers::fixed(200, &[], b"proxied\n")).unwrap();
    let mut gw = start(driver, GW, "rotate", &log, "json", &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("example.test", "/static/one").unwrap().status, 200);
    assert!(
        wait_until(SETTLE, || read_lines(&log).len() == 1),
        "the first line never reached the file"
    );
    std::fs::rename(&log, &rotated).unwrap();
    gw.server().reopen_access_log();
    assert_eq!(c.get("example.test", "/api/two").unwrap().status, 200);
    drop(c);
    gw.stop();

    let old = json_lines(&rotated);
    let new = json_lines(&log);
    let paths = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|l| l["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths(&old), ["/static/one"]);
    assert_eq!(paths(&new), ["/api/two"]);
}

fn request_ids_are_generated_or_replaced_and_logged(driver: Driver) {
    let dir = tools::TempDir::new("alog-rid").unwrap();
    let log = dir.path().join("access.log");
    let origin = Origin::start(handlers::fixed(200, &[], b"proxied\n")).unwrap();
    let mut gw = start(driver, GW, "rid", &log, "json", &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let longest = "i".repeat(128);
    let too_long = "l".repeat(129);
    let send = |c: &mut Client, path: &str, id: Option<&str>| {
        let id = id.map_or(String::new(), |v| format!("X-Request-Id: {v}\r\n"));
        let r = c
            .request(format!("GET {path} HTTP/1.1\r\nHost: example.test\r\n{id}\r\n").as_bytes())
            .unwrap();
        assert_eq!(r.status, 200, "{path}");
    };
    send(&mut c, "/api/none", None);
    send(&mut c, "/api/bad", Some("has space"));
    send(&mut c, "/api/long", Some(&too_long));
    send(&mut c, "/api/longest", Some(&longest));
    send(&mut c, "/api/none2", None);
    // Two id fields name no one id: both replaced by one generated id.
    send(&mut c, "/api/two", Some("aaa\r\nX-Request-Id: bbb"));
    drop(c);
    gw.stop();
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 6, "{lines:#?}");

    let mut generated = Vec::new();
    for path in [
        "/api/none",
        "/api/bad",
        "/api/long",
        "/api/none2",
        "/api/two",
    ] {
        let seen = ids(&the_request(&origin, path));
        assert_eq!(seen.len(), 1, "{path}: the origin got {seen:?}");
        assert!(is_hex32(&seen[0]), "{path}: {seen:?}");
        assert_eq!(line_for(&lines, path)["request_id"], seen[0], "{path}");
        generated.push(seen[0].clone());
    }
    generated.sort();
    generated.dedup();
    assert_eq!(generated.len(), 5, "generated ids repeat: {generated:?}");
    // 128 visible bytes is still the client's own id.
    assert_eq!(line_for(&lines, "/api/longest")["request_id"], longest);
    assert_eq!(ids(&the_request(&origin, "/api/longest")), [longest]);
}

const NO_IDS: &str = r#"
[request_id]
enabled = false
"#;

fn disabled_request_ids_add_nothing(driver: Driver) {
    let dir = tools::TempDir::new("alog-noid").unwrap();
    let log = dir.path().join("access.log");
    let origin = Origin::start(handlers::fixed(200, &[], b"proxied\n")).unwrap();
    let toml = format!("{GW}{NO_IDS}");
    let mut gw = start(driver, &toml, "noid", &log, "json", &origin);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("example.test", "/api/plain").unwrap().status, 200);
    let r = c
        .request(b"GET /api/own HTTP/1.1\r\nHost: example.test\r\nX-Request-Id: has space\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 200);
    drop(c);
    gw.stop();

    assert_eq!(
        ids(&the_request(&origin, "/api/plain")),
        Vec::<String>::new()
    );
    // Not an id any more, just a header: passed on as it came.
    assert_eq!(ids(&the_request(&origin, "/api/own")), ["has space"]);
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    for l in &lines {
        assert!(l.get("request_id").is_none(), "{l}");
    }
}

/// Pipelined requests on one connection: each line counts its own request's
/// bytes (head, body and chunk framing), not its neighbours'.
fn pipelined_requests_count_their_own_bytes(driver: Driver) {
    let dir = tools::TempDir::new("alog-pipe").unwrap();
    let log = dir.path().join("access.log");
    let origin = Origin::start(handlers::fixed(200, &[], b"proxied\n")).unwrap();
    let mut gw = start(driver, GW, "pipe", &log, "json", &origin);
    let reqs: [&[u8]; 5] = [
        b"GET /api/p1 HTTP/1.1\r\nHost: example.test\r\n\r\n",
        b"POST /api/p2 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /api/p3 HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"POST /static/p4 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\n\r\nbody",
        b"GET /missing/p5 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
    ];
    let mut c = Client::connect(gw.addr("public")).unwrap();
    c.send(&reqs.concat()).unwrap();
    let all = c.read_to_close().unwrap();
    drop(c);
    gw.stop();
    assert_eq!(origin.requests(), 3);
    assert_eq!(the_request(&origin, "/api/p3").body, b"abcde");

    let lines = json_lines(&log);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let targets = ["/api/p1", "/api/p2", "/api/p3", "/static/p4", "/missing/p5"];
    let statuses = [200, 200, 200, 200, 404];
    let mut sent_total = 0;
    for ((target, req), status) in targets.iter().zip(reqs).zip(statuses) {
        let l = line_for(&lines, target);
        assert_eq!(l["status"], status, "{l}");
        assert_eq!(l["bytes_received"], req.len(), "{l}");
        sent_total += l["bytes_sent"].as_u64().unwrap();
    }
    assert_eq!(
        sent_total,
        all.len() as u64,
        "bytes_sent over the lines vs bytes read"
    );
}

/// A 502 from a refused connect says why in its line.
fn refused_upstream_line_has_the_error(driver: Driver) {
    let dir = tools::TempDir::new("alog-502").unwrap();
    let log = dir.path().join("access.log");
    let refused = shardgate_testkit::closed_addr().unwrap();
    let mut gw = Gateway::builder(GW)
        .var("LOG", log.display())
        .var("FORMAT", "json")
        .var("NAME", format!("refused-{driver}"))
        .var("UP", refused)
        .driver(driver)
        .start()
        .unwrap();
    let req = b"GET /api/down HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n";
    let (resp, _) = exchange(gw.addr("public"), req);
    assert_eq!(status_of(&resp), 502);
    gw.stop();
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let l = &lines[0];
    assert_eq!(l["status"], 502, "{l}");
    assert_eq!(l["route"], format!("refused-{driver}-proxy"), "{l}");
    assert_eq!(l["upstream"], format!("refused-{driver}-up"), "{l}");
    assert_eq!(l["error"], "upstream_connect_refused", "{l}");
    assert_eq!(l["error_side"], "upstream", "{l}");
    assert_eq!(l["errno"], 111, "ECONNREFUSED: {l}");
    // The server that refused is named, as nginx's $upstream_addr does.
    assert_eq!(l["upstream_addr"], refused.to_string(), "{l}");
    assert_eq!(l["upstream_attempts"], 0, "nothing was sent: {l}");
    assert_eq!(l["bytes_received"], req.len(), "{l}");
    assert_eq!(l["bytes_sent"], resp.len(), "{l}");
}

/// The binary: `SIGUSR1` after a rename makes it write to a new file.
fn binary_reopens_on_sigusr1(driver: Driver) {
    let dir = tools::TempDir::new("alog-usr1").unwrap();
    let log = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let (public, admin) = (free_port().unwrap(), free_port().unwrap());
    let cfg = format!(
        r#"
[server]
driver = "{driver}"
shards = 1

[admin]
address = "127.0.0.1:{admin}"

[[listener]]
name = "public"
address = "127.0.0.1:{public}"

[access_log]
path = "{log}"

[[route]]
name = "static"
respond = {{ status = 200, body = "ok\n" }}
"#,
        log = log.display()
    );
    let path = dir.write("gw.toml", &cfg).unwrap();
    let mut child = Running::start(&path, admin, &[], None).unwrap();
    let base = format!("http://127.0.0.1:{public}");
    assert_eq!(tools::curl(&[&format!("{base}/one")]).unwrap().status, 200);
    assert!(
        wait_until(SETTLE, || read_lines(&log).len() == 1),
        "the first line never reached the file: {:?}",
        read_lines(&log)
    );
    std::fs::rename(&log, &rotated).unwrap();
    child.signal("USR1").unwrap();
    assert_eq!(tools::curl(&[&format!("{base}/two")]).unwrap().status, 200);
    assert!(
        wait_until(SETTLE, || !read_lines(&log).is_empty()),
        "no new file at the path 5 s after SIGUSR1 (process alive: {})",
        matches!(child.0.try_wait(), Ok(None))
    );
    let path_of = |l: &Value| l["path"].as_str().unwrap().to_string();
    assert_eq!(
        json_lines(&log).iter().map(path_of).collect::<Vec<_>>(),
        ["/two"]
    );
    assert_eq!(
        json_lines(&rotated).iter().map(path_of).collect::<Vec<_>>(),
        ["/one"]
    );

    child.signal("TERM").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || matches!(
            child.0.try_wait(),
            Ok(Some(_))
        )),
        "still running 10 s after SIGTERM"
    );
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    // Nothing more was written at stop.
    assert_eq!(read_lines(&log).len(), 1);
    assert_eq!(read_lines(&rotated).len(), 1);
}

each_driver!(
    json_lines_have_exact_fields,
    combined_lines_are_apache_combined,
    route_can_turn_its_lines_off,
    reopen_after_rename_writes_a_new_file,
    request_ids_are_generated_or_replaced_and_logged,
    disabled_request_ids_add_nothing,
    pipelined_requests_count_their_own_bytes,
    refused_upstream_line_has_the_error,
    binary_reopens_on_sigusr1,
);
