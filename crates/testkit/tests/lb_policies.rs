//! The load-balancing policies over real origins, counted at the origins:
//! least_request (turns among equals, nothing for a busy server), p2c (a
//! server answering 429 at once gets little), random (by weight), and
//! consistent_hash with every kind of key (header, cookie, client address,
//! path; over HTTP/1.1 and HTTP/3), across a reload that adds a server.
//! Plus `shardgate check` on bad `hash_key` settings.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use shardgate_testkit::binary::shardgate_command;
use shardgate_testkit::h3client::{self, H3Plan, H3Request};
use shardgate_testkit::{
    each_driver, handler, handlers, tools, Client, Driver, Gate, Gateway, Handler, Origin, TestCert,
};

/// Answers 200 with its own name, `o{i}`.
fn named(i: usize) -> Handler {
    handlers::fixed(200, &[], format!("o{i}").as_bytes())
}

fn origins(n: usize) -> Vec<Origin> {
    (0..n).map(|i| Origin::start(named(i)).unwrap()).collect()
}

/// One listener, one route, upstream `pool` over `servers` with `lb` (and
/// whatever else the upstream table gets).
fn config(servers: &[&Origin], upstream: &str) -> String {
    let list: Vec<String> = servers
        .iter()
        .map(|o| format!("\"{}\"", o.addr()))
        .collect();
    format!(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "pool"

[[upstream]]
name = "pool"
servers = [{}]
{upstream}
"#,
        list.join(", ")
    )
}

fn start(driver: Driver, toml: &str) -> Gateway {
    Gateway::builder(toml).driver(driver).start().unwrap()
}

/// Which origin (`o{i}`) answered.
fn origin_of(body: &str) -> usize {
    body.strip_prefix('o')
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("not an origin's answer: {body:?}"))
}

fn requests(origins: &[&Origin]) -> Vec<usize> {
    origins.iter().map(|o| o.requests()).collect()
}

// ---- least_request ----------------------------------------------------------

fn least_request_equal_servers_take_turns(driver: Driver) {
    let os = origins(3);
    let all: Vec<&Origin> = os.iter().collect();
    let gw = start(driver, &config(&all, "lb = \"least_request\""));
    // One keep-alive connection: each request starts after the previous one
    // gave its upstream connection back, so every pick sees three idle
    // servers and the tie goes round.
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let seen: Vec<usize> = (0..30)
        .map(|_| origin_of(&c.get("x", "/").unwrap().body_str()))
        .collect();
    let expected: Vec<usize> = (0..30).map(|k| k % 3).collect();
    assert_eq!(seen, expected);
    assert_eq!(requests(&all), [10, 10, 10]);
}

fn least_request_busy_server_gets_no_new_requests(driver: Driver) {
    let gate = Gate::new();
    let held = Origin::start(handlers::gated(gate.clone(), named(0))).unwrap();
    let quick = Origin::start(named(1)).unwrap();
    let gw = start(driver, &config(&[&held, &quick], "lb = \"least_request\""));
    // All idle: the first request goes to the first server, which holds it.
    let mut waiting = Client::connect(gw.addr("public")).unwrap();
    waiting.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(held.wait_requests(1, Duration::from_secs(5)));
    // While it is busy, every new request goes to the idle server, on new
    // connections and on a kept-alive one alike.
    for _ in 0..5 {
        let mut c = Client::connect(gw.addr("public")).unwrap();
        assert_eq!(c.get("x", "/").unwrap().body_str(), "o1");
    }
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for _ in 0..5 {
        assert_eq!(c.get("x", "/").unwrap().body_str(), "o1");
    }
    assert_eq!((held.requests(), quick.requests()), (1, 10));
    // Released: equal again, so the two take turns.
    gate.open();
    assert_eq!(waiting.response().unwrap().body_str(), "o0");
    let seen: Vec<usize> = (0..20)
        .map(|_| origin_of(&c.get("x", "/").unwrap().body_str()))
        .collect();
    let to_held = seen.iter().filter(|&&i| i == 0).count();
    assert!((9..=11).contains(&to_held), "{seen:?}");
}

// ---- p2c --------------------------------------------------------------------

fn p2c_keeps_traffic_off_a_server_that_answers_429_fast(driver: Driver) {
    // One origin refuses at once; the two others answer after 20 ms. By
    // time alone the refusing one looks fastest; p2c counts a 429 as a
    // slow answer, so it loses every pair it is drawn into.
    let refusing = Origin::start(handlers::fixed(429, &[], b"busy")).unwrap();
    let slow_ok = |i: usize| {
        let body = handlers::response_bytes(200, &[], format!("o{i}").as_bytes());
        Origin::start(handler(move |_, r| {
            std::thread::sleep(Duration::from_millis(20));
            r.write(&body)?;
            Ok(shardgate_testkit::After::KeepAlive)
        }))
        .unwrap()
    };
    let (a, b) = (slow_ok(1), slow_ok(2));
    let gw = start(driver, &config(&[&refusing, &a, &b], "lb = \"p2c\""));
    let addr = gw.addr("public");
    // Four clients at once, 15 requests each.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr).unwrap();
                (0..15)
                    .map(|_| c.get("x", "/").unwrap().status)
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(statuses.len(), 60);
    let counts = requests(&[&refusing, &a, &b]);
    // An even share would be 20; without the penalty it would be more.
    assert!(counts[0] <= 6, "{counts:?}");
    assert!(counts[1] >= 15 && counts[2] >= 15, "{counts:?}");
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(refused, counts[0], "{statuses:?}");
}

// ---- random -----------------------------------------------------------------

fn random_follows_the_weights(driver: Driver) {
    let os = origins(2);
    let toml = format!(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
proxy = "pool"

[[upstream]]
name = "pool"
lb = "random"
servers = [{{ address = "{}", weight = 3 }}, "{}"]
"#,
        os[0].addr(),
        os[1].addr()
    );
    let gw = start(driver, &toml);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let seen: String = (0..600)
        .map(|_| match c.get("x", "/").unwrap().body_str().as_str() {
            "o0" => 'A',
            _ => 'B',
        })
        .collect();
    let share = seen.matches('A').count() as f64 / 600.0;
    // 3 : 1 → 0.75; the tolerance is over four standard deviations.
    assert!((share - 0.75).abs() < 0.08, "{share}");
    // Drawn, not rotated: smooth weighted round robin never sends more than
    // three in a row to the heavier server; a random draw does, often.
    assert!(seen.contains("AAAAA"), "{seen}");
    assert_eq!(os[0].requests() + os[1].requests(), 600);
}

// ---- consistent_hash --------------------------------------------------------

/// `GET /` with `x-user: user`, on `c`; which origin answered.
fn as_user(c: &mut Client, user: &str) -> usize {
    let r = c
        .request(format!("GET / HTTP/1.1\r\nHost: x\r\nx-user: {user}\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(r.status, 200);
    origin_of(&r.body_str())
}

fn consistent_hash_by_header_sticks_spreads_and_survives_a_new_server(driver: Driver) {
    let os = origins(5);
    let four: Vec<&Origin> = os.iter().take(4).collect();
    let upstream = "lb = \"consistent_hash\"\nhash_key = \"header:x-user\"";
    let gw = start(driver, &config(&four, upstream));
    let addr = gw.addr("public");
    // The same user, over new connections each time, lands on one origin;
    // different users use every origin.
    let mut home: HashMap<String, usize> = HashMap::new();
    for round in 0..3 {
        for u in 0..40 {
            let user = format!("user-{u}");
            let mut c = Client::connect(addr).unwrap();
            let o = as_user(&mut c, &user);
            let first = *home.entry(user.clone()).or_insert(o);
            assert_eq!(o, first, "{user} moved in round {round}");
        }
    }
    let mut per_origin = [0; 4];
    for &o in home.values() {
        per_origin[o] += 1;
    }
    assert!(per_origin.iter().all(|&n| n > 0), "{per_origin:?}");

    // 200 keys, then a reload that adds a fifth server.
    let users: Vec<String> = (0..200).map(|u| format!("key-{u}")).collect();
    let mut c = Client::connect(addr).unwrap();
    let before: Vec<usize> = users.iter().map(|u| as_user(&mut c, u)).collect();
    let all: Vec<&Origin> = os.iter().collect();
    gw.reload(&config(&all, upstream)).unwrap();
    let after: Vec<usize> = users.iter().map(|u| as_user(&mut c, u)).collect();
    let moved: Vec<(usize, usize)> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(&b, &a)| (b, a))
        .collect();
    // The new server takes its fifth; the bound is 1/4 + 5 points.
    assert!(moved.len() <= 60, "{} of 200 moved", moved.len());
    assert!(!moved.is_empty(), "the new server got no keys");
    // And the keys that moved went to the new server, not between old ones.
    let to_new = moved.iter().filter(|&&(_, a)| a == 4).count();
    assert!(to_new * 10 >= moved.len() * 9, "{moved:?}");
    // Stable again after the move.
    for (u, &o) in users.iter().zip(&after).take(50) {
        assert_eq!(as_user(&mut c, u), o);
    }
}

fn consistent_hash_by_cookie_falls_back_to_the_client_address(driver: Driver) {
    let os = origins(3);
    let all: Vec<&Origin> = os.iter().collect();
    let gw = start(
        driver,
        &config(&all, "lb = \"consistent_hash\"\nhash_key = \"cookie:sid\""),
    );
    let addr = gw.addr("public");
    let with_cookie = |cookie: &str| {
        let mut c = Client::connect(addr).unwrap();
        let r = c
            .request(format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n").as_bytes())
            .unwrap();
        origin_of(&r.body_str())
    };
    let mut per_origin = [0; 3];
    for u in 0..30 {
        // The session cookie decides, whatever else the header carries.
        let o = with_cookie(&format!("theme=dark; sid=s{u}"));
        assert_eq!(with_cookie(&format!("sid=s{u}; lang=en")), o, "s{u}");
        per_origin[o] += 1;
    }
    assert!(per_origin.iter().all(|&n| n > 0), "{per_origin:?}");
    // Without the cookie: hashed by the client address, so every such
    // request from this one address goes to one origin.
    let fallback: Vec<usize> = (0..10)
        .map(|k| with_cookie(&format!("theme=t{k}")))
        .collect();
    assert!(fallback.iter().all(|&o| o == fallback[0]), "{fallback:?}");
}

/// `GET /` from source address `src` on a fresh connection; which origin
/// answered. Any 127/8 address is this machine's, so clients can differ.
fn get_from(src: Ipv4Addr, gw: SocketAddr) -> usize {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddrV4::new(src, 0).into()).unwrap();
    sock.connect_timeout(&gw.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    origin_of(body)
}

fn consistent_hash_by_client_address(driver: Driver) {
    let os = origins(3);
    let all: Vec<&Origin> = os.iter().collect();
    let gw = start(
        driver,
        &config(&all, "lb = \"consistent_hash\"\nhash_key = \"client_ip\""),
    );
    let addr = gw.addr("public");
    let mut per_origin = [0; 3];
    for k in 2..32u8 {
        let src = Ipv4Addr::new(127, 0, 0, k);
        let o = get_from(src, addr);
        // Another connection (another source port) from the same address.
        assert_eq!(get_from(src, addr), o, "{src}");
        per_origin[o] += 1;
    }
    assert!(per_origin.iter().all(|&n| n > 0), "{per_origin:?}");
}

fn consistent_hash_by_path_ignores_the_query(driver: Driver) {
    let os = origins(3);
    let all: Vec<&Origin> = os.iter().collect();
    let gw = start(
        driver,
        &config(&all, "lb = \"consistent_hash\"\nhash_key = \"path\""),
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let mut per_origin = [0; 3];
    for k in 0..30 {
        let o = origin_of(&c.get("x", &format!("/item/{k}")).unwrap().body_str());
        let again = c.get("x", &format!("/item/{k}?page=2")).unwrap().body_str();
        assert_eq!(origin_of(&again), o, "/item/{k}");
        per_origin[o] += 1;
    }
    assert!(per_origin.iter().all(|&n| n > 0), "{per_origin:?}");
}

/// HTTP/3 reads the key from the h3 head: a user lands where it lands
/// over HTTP/1.1 (one table, one hash, whatever the front end).
fn consistent_hash_over_http3_matches_http1(driver: Driver) {
    let os = origins(3);
    let cert = TestCert::new(&["localhost"]).unwrap();
    let list: Vec<String> = os.iter().map(|o| format!("\"{}\"", o.addr())).collect();
    let toml = format!(
        r#"
[[listener]]
name = "public"
address = "127.0.0.1:0"

[[listener]]
name = "quic"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [{}]

[[route]]
proxy = "pool"

[[upstream]]
name = "pool"
servers = [{}]
lb = "consistent_hash"
hash_key = "header:x-user"
"#,
        cert.toml(),
        list.join(", ")
    );
    let gw = start(driver, &toml);
    let users: Vec<String> = (0..24).map(|u| format!("h3-user-{u}")).collect();
    let mut plan = H3Plan::new(gw.addr("quic"), "localhost", &cert).keep_body(16);
    for u in &users {
        plan = plan.request(H3Request::get("/").header("x-user", u));
    }
    let res = h3client::run(&plan).unwrap();
    assert!(res.ok, "{}", res.summary());
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let mut per_origin = [0; 3];
    for (u, r) in users.iter().zip(&res.requests) {
        let over_h3 = origin_of(&r.body);
        assert_eq!(over_h3, as_user(&mut c, u), "{u}");
        per_origin[over_h3] += 1;
    }
    assert!(per_origin.iter().all(|&n| n > 0), "{per_origin:?}");
}

each_driver!(
    least_request_equal_servers_take_turns,
    least_request_busy_server_gets_no_new_requests,
    p2c_keeps_traffic_off_a_server_that_answers_429_fast,
    random_follows_the_weights,
    consistent_hash_by_header_sticks_spreads_and_survives_a_new_server,
    consistent_hash_by_cookie_falls_back_to_the_client_address,
    consistent_hash_by_client_address,
    consistent_hash_by_path_ignores_the_query,
    consistent_hash_over_http3_matches_http1,
);

// ---- shardgate check --------------------------------------------------------

/// `shardgate check` on `upstream` lines: exit 1 and one diagnostic,
/// `file:line:col: key: …`.
fn check_fails(upstream: &str) -> String {
    let dir = tools::TempDir::new("lb-check").unwrap();
    let text = format!(
        "[[listener]]\nname = \"public\"\naddress = \"127.0.0.1:0\"\n\n[[route]]\nproxy = \"pool\"\n\n[[upstream]]\nname = \"pool\"\nservers = [\"127.0.0.1:9\"]\n{upstream}\n"
    );
    let path = dir.write("lb.toml", text).unwrap();
    let out = shardgate_command()
        .unwrap()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let file = path.display().to_string();
    lines[0]
        .strip_prefix(&format!("{file}:"))
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string()
}

#[test]
fn check_reports_a_malformed_hash_key() {
    let line = check_fails("lb = \"consistent_hash\"\nhash_key = \"header:\"");
    assert_eq!(
        line,
        "12:12: upstream[0].hash_key: \"header:\" names no header"
    );
    let line = check_fails("lb = \"consistent_hash\"\nhash_key = \"user\"");
    assert!(
        line.starts_with("12:12: upstream[0].hash_key: unknown hash key \"user\""),
        "{line}"
    );
}

#[test]
fn check_reports_a_hash_key_without_consistent_hash_and_the_reverse() {
    let line = check_fails("lb = \"least_request\"\nhash_key = \"client_ip\"");
    assert_eq!(
        line,
        "12:12: upstream[0].hash_key: only lb = \"consistent_hash\" uses a hash key \
         (this upstream's lb is \"least_request\")"
    );
    let line = check_fails("lb = \"consistent_hash\"");
    assert!(
        line.starts_with("11:6: upstream[0].hash_key: required with lb = \"consistent_hash\""),
        "{line}"
    );
}
