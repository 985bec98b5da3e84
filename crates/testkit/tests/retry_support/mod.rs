//! What the retry, retry-budget and timeout tests share: a gateway with one
//! proxied route to an upstream of several servers (round robin unless a
//! test says otherwise, so the order in which servers are tried is known), origins that answer on
//! purpose, and the retry counters from `/metrics` (the recorder is
//! process-wide: each gateway names its upstream after its test and driver).
#![allow(dead_code)] // each test file uses a different subset

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};

use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::{handler, handlers, After, Driver, Gateway, Handler, Origin};

/// `${ROUTE}` goes into the route (e.g. a `[route.retry]` table), `${UPSTREAM}`
/// into the upstream (keys, then e.g. `[upstream.retry_budget]`).
pub const GW: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "${NAME}"
proxy = "${NAME}"
${ROUTE}

[[upstream]]
name = "${NAME}"
lb = "${LB}"
servers = [${SERVERS}]
${UPSTREAM}
"#;

/// `"a", "b"` for `servers = [...]`.
pub fn servers(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A gateway from [`GW`] and the name of its route and upstream.
pub struct Rig {
    pub gw: Gateway,
    pub name: String,
}

impl Deref for Rig {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gw
    }
}

impl DerefMut for Rig {
    fn deref_mut(&mut self) -> &mut Gateway {
        &mut self.gw
    }
}

impl Rig {
    /// `shardgate_upstream_retries_total{reason}` of the upstream.
    pub fn retries(&self, reason: &str) -> f64 {
        scrape_sum(
            self.gw.admin().unwrap(),
            "shardgate_upstream_retries_total",
            &[("upstream", &self.name), ("reason", reason)],
        )
    }

    /// `shardgate_upstream_retries_budget_exhausted_total` of the upstream.
    pub fn exhausted(&self) -> f64 {
        scrape_sum(
            self.gw.admin().unwrap(),
            "shardgate_upstream_retries_budget_exhausted_total",
            &[("upstream", &self.name)],
        )
    }
}

/// `tag`: unique per test (the driver is added). Round robin.
/// `{ address = "a", weight = 3 }, …` for `servers = [...]`.
pub fn weighted(servers: &[(SocketAddr, u32)]) -> String {
    servers
        .iter()
        .map(|(a, w)| format!("{{ address = \"{a}\", weight = {w} }}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn gateway(
    driver: Driver,
    tag: &str,
    addrs: &[SocketAddr],
    route: &str,
    upstream: &str,
) -> Rig {
    gateway_lb(driver, tag, "round_robin", &servers(addrs), route, upstream)
}

/// [`gateway`] with a balancing policy and `servers` written out.
pub fn gateway_lb(
    driver: Driver,
    tag: &str,
    lb: &str,
    servers: &str,
    route: &str,
    upstream: &str,
) -> Rig {
    let name = format!("{tag}-{driver}");
    let gw = Gateway::builder(GW)
        .var("NAME", &name)
        .var("LB", lb)
        .var("SERVERS", servers)
        .var("ROUTE", route)
        .var("UPSTREAM", upstream)
        .driver(driver)
        .start()
        .unwrap();
    Rig { gw, name }
}

/// Always `status` with body `body` and `x-from: body`.
pub fn answers(status: u16, body: &'static str) -> Handler {
    handlers::fixed(
        status,
        &[("x-from", body), ("retry-after", "7")],
        body.as_bytes(),
    )
}

/// Reads the whole request, then resets the connection without a byte of
/// response: the request reached the origin, nothing came back.
pub fn resets() -> Handler {
    handler(|_, _| Ok(After::Reset))
}

/// `200` whose body is `METHOD TARGET LEN` and the request body itself.
pub fn receipt(name: &'static str) -> Handler {
    handler(move |req, r| {
        let mut body = format!("{} {} {}\n", req.method, req.target, req.body.len()).into_bytes();
        body.extend_from_slice(&req.body);
        r.write(&handlers::response_bytes(200, &[("x-from", name)], &body))?;
        Ok(After::KeepAlive)
    })
}

/// How many requests for `target` reached `origin`.
pub fn count(origin: &Origin, target: &str) -> usize {
    origin
        .received()
        .iter()
        .filter(|r| r.target == target)
        .count()
}

/// `n` bytes of a pattern that shows any shift or loss.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 23) as u8).collect()
}
