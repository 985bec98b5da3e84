//! `[route.retry]` over HTTP/1.1: which failures are retried, to which
//! server, how often, and what is never sent twice. Every upstream here is
//! round robin on one shard, so each request starts at the server after the
//! one the previous request ended on (the first at the first server).

use std::path::Path;
use std::time::{Duration, Instant};

mod retry_support;

use retry_support::{answers, count, gateway, gateway_lb, pattern, receipt, resets, weighted};
use serde_json::Value;
use shardgate_testkit::tools::TempDir;
use shardgate_testkit::{closed_addr, each_driver, handlers, Client, Driver, Origin};

each_driver!(
    get_retried_on_503_reaches_another_server,
    attempts_bound_the_tries_and_the_last_answer_is_the_origins,
    post_is_not_sent_twice_once_its_body_went_upstream,
    post_is_retried_after_a_failed_connect,
    connect_failover_is_bounded_by_attempts,
    put_with_a_kept_body_is_retried_on_reset_and_arrives_intact,
    a_body_over_buffer_body_is_not_retried,
    an_origins_504_is_retried_a_timeout_of_ours_is_not,
    the_access_log_counts_the_attempts_sent,
);

/// A request for `target` with `body`, framed by Content-Length.
fn with_length(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// The same, chunked in pieces of 7000 bytes.
fn chunked(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut req =
        format!("{method} {target} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for c in body.chunks(7000) {
        req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        req.extend_from_slice(c);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

fn get_retried_on_503_reaches_another_server(driver: Driver) {
    let busy = Origin::start(answers(503, "busy")).unwrap();
    let ok = Origin::start(receipt("ok")).unwrap();
    // Weighted 3:1, the balancer alone would pick the busy server twice in
    // a row (smooth weighted round robin: busy, busy, ok, busy, …): only
    // leaving out the server already tried sends the retry elsewhere.
    let gw = gateway_lb(
        driver,
        "get503",
        "weighted_round_robin",
        &weighted(&[(busy.addr(), 3), (ok.addr(), 1)]),
        "[route.retry]\non = [\"503\"]",
        "",
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for i in 0..4 {
        let r = c.get("a", &format!("/g{i}")).unwrap();
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert_eq!(r.header("x-from"), Some("ok"));
    }
    let mut first_at_busy = 0;
    for i in 0..4 {
        let t = format!("/g{i}");
        let n = count(&busy, &t);
        assert!(n <= 1, "{t}: the server that said 503 saw it {n} times");
        first_at_busy += n;
        assert_eq!(count(&ok, &t), 1, "{t}");
    }
    assert!(
        first_at_busy >= 3,
        "the busy server is tried first most of the time"
    );
    assert_eq!(gw.retries("503"), first_at_busy as f64);
    assert_eq!(gw.exhausted(), 0.0);
}

fn attempts_bound_the_tries_and_the_last_answer_is_the_origins(driver: Driver) {
    let names = ["one", "two", "three"];
    let origins: Vec<Origin> = names
        .iter()
        .map(|n| Origin::start(answers(503, n)).unwrap())
        .collect();
    let addrs: Vec<_> = origins.iter().map(Origin::addr).collect();
    for attempts in 1..=3usize {
        let route = format!("[route.retry]\nattempts = {attempts}\non = [\"503\"]");
        let gw = gateway(driver, &format!("attempts{attempts}"), &addrs, &route, "");
        let target = format!("/n{attempts}");
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c.get("a", &target).unwrap();
        let saw: Vec<usize> = origins.iter().map(|o| count(o, &target)).collect();
        assert_eq!(
            saw.iter().sum::<usize>(),
            attempts,
            "attempts = {attempts}: {saw:?}"
        );
        assert!(
            saw.iter().all(|&n| n <= 1),
            "each try on another server: {saw:?}"
        );
        // No attempt left: the last origin's 503 as it was sent, not the
        // gateway's error page.
        assert_eq!(r.status, 503);
        let last = names[attempts - 1];
        assert_eq!(r.header("x-from"), Some(last), "{saw:?}");
        assert_eq!(r.body_str(), last);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert_eq!(gw.retries("503"), (attempts - 1) as f64);
    }
}

/// All conditions on and bodies kept: a POST still reaches the origin once.
const EVERYTHING: &str = r#"[route.retry]
attempts = 3
on = ["connect-failure", "reset", "502", "503", "504"]
buffer_body = "64KiB""#;

fn post_is_not_sent_twice_once_its_body_went_upstream(driver: Driver) {
    for (first, status) in [(answers(503, "busy"), 503), (resets(), 502)] {
        let a = Origin::start(first).unwrap();
        let b = Origin::start(receipt("b")).unwrap();
        let tag = format!("post{status}");
        let gw = gateway(driver, &tag, &[a.addr(), b.addr()], EVERYTHING, "");
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c
            .request(&with_length("POST", "/pay", b"amount=10"))
            .unwrap();
        assert_eq!(r.status, status);
        let got = a.received();
        assert_eq!(got.len(), 1, "status {status}");
        assert_eq!(
            (got[0].target.as_str(), got[0].body.as_slice()),
            ("/pay", &b"amount=10"[..])
        );
        assert_eq!(
            b.requests(),
            0,
            "a POST must not reach an origin twice ({status})"
        );
        assert_eq!(gw.retries("reset") + gw.retries("503"), 0.0);
    }
}

fn post_is_retried_after_a_failed_connect(driver: Driver) {
    // No [route.retry]: a failed connect moves to the next server by default.
    let b = Origin::start(receipt("b")).unwrap();
    let gw = gateway(
        driver,
        "postconnect",
        &[closed_addr().unwrap(), b.addr()],
        "",
        "",
    );
    let body = pattern(5000);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let r = c.request(&with_length("POST", "/order", &body)).unwrap();
    assert_eq!(
        (r.status, r.header("x-from")),
        (200, Some("b")),
        "{}",
        r.body_str()
    );
    assert_eq!(count(&b, "/order"), 1);
    assert_eq!(b.last().unwrap().body, body);
    assert_eq!(gw.retries("connect-failure"), 1.0);
}

fn connect_failover_is_bounded_by_attempts(driver: Driver) {
    let ok = Origin::start(receipt("ok")).unwrap();
    let servers = [closed_addr().unwrap(), closed_addr().unwrap(), ok.addr()];
    // The default 3 tries reach the third server …
    let gw = gateway(driver, "failover3", &servers, "", "");
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/three").unwrap().status, 200);
    assert_eq!(gw.retries("connect-failure"), 2.0);
    // … two do not: the second refusal is the answer.
    let gw = gateway(
        driver,
        "failover2",
        &servers,
        "[route.retry]\nattempts = 2",
        "",
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/two").unwrap().status, 502);
    assert_eq!(count(&ok, "/two"), 0);
    assert_eq!(gw.retries("connect-failure"), 1.0);
}

fn put_with_a_kept_body_is_retried_on_reset_and_arrives_intact(driver: Driver) {
    let route = "[route.retry]\non = [\"reset\"]\nbuffer_body = \"64KiB\"";
    // Larger than what goes out with the head: the rest is streamed (and
    // kept) from the client.
    let body = pattern(40_000);
    for (framing, req) in [
        ("length", with_length("PUT", "/doc", &body)),
        ("chunked", chunked("PUT", "/doc", &body)),
    ] {
        let a = Origin::start(resets()).unwrap();
        let b = Origin::start(receipt("b")).unwrap();
        let tag = format!("put-{framing}");
        let gw = gateway(driver, &tag, &[a.addr(), b.addr()], route, "");
        let mut c = Client::connect(gw.addr("public")).unwrap();
        let r = c.request(&req).unwrap();
        assert_eq!(
            (r.status, r.header("x-from")),
            (200, Some("b")),
            "{framing}"
        );
        let first = a.received();
        assert_eq!(first.len(), 1, "{framing}");
        assert!(
            first[0].complete && first[0].body == body,
            "{framing}: all of it reached a"
        );
        let again = b.last().unwrap();
        assert_eq!(again.method, "PUT");
        assert_eq!(again.body.len(), body.len(), "{framing}");
        assert!(again.body == body, "{framing}: the replay differs");
        assert_eq!(b.requests(), 1);
        assert_eq!(gw.retries("reset"), 1.0, "{framing}");
        // The connection goes on.
        assert_eq!(c.get("a", "/after").unwrap().status, 200, "{framing}");
    }
}

fn a_body_over_buffer_body_is_not_retried(driver: Driver) {
    let route = "[route.retry]\non = [\"reset\"]\nbuffer_body = \"1KiB\"";
    let body = pattern(4000);
    for (framing, req) in [
        ("length", with_length("PUT", "/big", &body)),
        // Unknown length: kept until it outgrows the limit.
        ("chunked", chunked("PUT", "/big", &body)),
    ] {
        let a = Origin::start(resets()).unwrap();
        let b = Origin::start(receipt("b")).unwrap();
        let tag = format!("big-{framing}");
        let gw = gateway(driver, &tag, &[a.addr(), b.addr()], route, "");
        let mut c = Client::connect(gw.addr("public")).unwrap();
        assert_eq!(c.request(&req).unwrap().status, 502, "{framing}");
        assert_eq!(count(&a, "/big"), 1, "{framing}");
        assert_eq!(b.requests(), 0, "{framing}: not kept, so not sent again");
        assert_eq!(gw.retries("reset"), 0.0);
    }
    // Within the limit the same request is retried.
    let a = Origin::start(resets()).unwrap();
    let b = Origin::start(receipt("b")).unwrap();
    let gw = gateway(driver, "fits", &[a.addr(), b.addr()], route, "");
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let small = pattern(1024);
    assert_eq!(
        c.request(&with_length("PUT", "/fits", &small))
            .unwrap()
            .status,
        200
    );
    assert_eq!(b.last().unwrap().body, small);
}

fn an_origins_504_is_retried_a_timeout_of_ours_is_not(driver: Driver) {
    let a = Origin::start(answers(504, "late")).unwrap();
    let b = Origin::start(receipt("b")).unwrap();
    let gw = gateway(
        driver,
        "origin504",
        &[a.addr(), b.addr()],
        "[route.retry]\non = [\"504\"]",
        "",
    );
    let mut c = Client::connect(gw.addr("public")).unwrap();
    assert_eq!(c.get("a", "/x").unwrap().status, 200);
    assert_eq!((count(&a, "/x"), count(&b, "/x")), (1, 1));
    assert_eq!(gw.retries("504"), 1.0);

    // Our own first-byte timeout: the origin may still be working on it.
    let hang = Origin::start(handlers::black_hole()).unwrap();
    let b = Origin::start(receipt("b")).unwrap();
    let route =
        "[route.retry]\non = [\"504\", \"reset\"]\n[route.timeouts]\nresponse_timeout = \"300ms\"";
    let gw = gateway(driver, "own504", &[hang.addr(), b.addr()], route, "");
    let mut c = Client::connect(gw.addr("public")).unwrap();
    let t0 = Instant::now();
    let r = c.get("a", "/slow").unwrap();
    assert_eq!(r.status, 504);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(hang.requests(), 1);
    assert_eq!(b.requests(), 0, "a timed-out request is not sent again");
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

fn the_access_log_counts_the_attempts_sent(driver: Driver) {
    let busy = Origin::start(answers(503, "busy")).unwrap();
    let ok = Origin::start(receipt("ok")).unwrap();
    let down = closed_addr().unwrap();
    let dir = TempDir::new("retrylog").unwrap();
    let log = dir.path().join("access.log");
    let route = format!(
        "[route.retry]\non = [\"503\", \"connect-failure\"]\n\n[access_log]\npath = \"{}\"",
        log.display()
    );
    let mut gw = gateway(driver, "log", &[busy.addr(), ok.addr(), down], &route, "");
    let mut c = Client::connect(gw.addr("public")).unwrap();
    // busy (503) → ok; then down (refused, nothing sent) → busy (503) → ok.
    assert_eq!(c.get("a", "/first").unwrap().status, 200);
    assert_eq!(c.get("a", "/second").unwrap().status, 200);
    gw.stop();
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let (first, second) = (&lines[0], &lines[1]);
    assert_eq!(first["upstream_attempts"], 2, "{first}");
    assert_eq!(first["upstream_addr"], ok.addr().to_string(), "{first}");
    assert_eq!(
        second["upstream_attempts"], 2,
        "a failed connect sent nothing: {second}"
    );
    assert_eq!(second["upstream_addr"], ok.addr().to_string(), "{second}");
    assert_eq!(count(&busy, "/second"), 1);
}
