//! Shared by the health tests (`health_active.rs`, `outlier.rs`,
//! `backoff.rs`, `admin_upstreams.rs`): origins whose answers the test
//! switches, `/upstreams` read and searched, metric sums by server.
#![allow(dead_code)] // each test file uses a different subset

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shardgate_testkit::{handler, handlers, metrics, wait_until, After, Client, Handler};

/// An origin's answers: `/health` gets the status in `health`, every other
/// path the status in `traffic` with `body` (so a response shows which
/// server answered). Both can be changed while it runs.
/// It counts the probes it answered with 200 and with anything else.
pub struct Switch {
    pub health: Arc<AtomicU16>,
    pub traffic: Arc<AtomicU16>,
    pub probes_ok: Arc<AtomicUsize>,
    pub probes_bad: Arc<AtomicUsize>,
}

impl Switch {
    pub fn new() -> Switch {
        Switch {
            health: Arc::new(AtomicU16::new(200)),
            traffic: Arc::new(AtomicU16::new(200)),
            probes_ok: Arc::default(),
            probes_bad: Arc::default(),
        }
    }

    pub fn handler(&self, body: &'static str) -> Handler {
        let (health, traffic) = (self.health.clone(), self.traffic.clone());
        let (ok, bad) = (self.probes_ok.clone(), self.probes_bad.clone());
        handler(move |req, r| {
            let status = if req.target.starts_with("/health") {
                let s = health.load(Ordering::SeqCst);
                let counter = if s == 200 { &ok } else { &bad };
                counter.fetch_add(1, Ordering::SeqCst);
                s
            } else {
                traffic.load(Ordering::SeqCst)
            };
            r.write(&handlers::response_bytes(status, &[], body.as_bytes()))?;
            Ok(After::KeepAlive)
        })
    }

    pub fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::SeqCst);
    }

    pub fn set_traffic(&self, status: u16) {
        self.traffic.store(status, Ordering::SeqCst);
    }

    /// Probes answered 200 so far.
    pub fn ok(&self) -> usize {
        self.probes_ok.load(Ordering::SeqCst)
    }

    /// Probes answered with another status so far.
    pub fn bad(&self) -> usize {
        self.probes_bad.load(Ordering::SeqCst)
    }
}

/// Reads a request and resets the connection without answering (an origin
/// that accepts and then fails), counting nothing else.
pub fn resets() -> Handler {
    handler(|_, _| Ok(After::Reset))
}

/// `GET /upstreams`, parsed.
pub fn upstreams(admin: SocketAddr) -> Value {
    let r = Client::connect(admin)
        .unwrap()
        .get("admin", "/upstreams")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

/// The entry of server `addr` in upstream `name` of a `/upstreams` document.
pub fn server(doc: &Value, name: &str, addr: SocketAddr) -> Value {
    let u = doc["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("no upstream {name} in {doc}"));
    u["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == addr.to_string())
        .unwrap_or_else(|| panic!("no server {addr} in {u}"))
        .clone()
}

/// The upstream entry `name` of a `/upstreams` document.
pub fn upstream(doc: &Value, name: &str) -> Value {
    doc["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("no upstream {name} in {doc}"))
        .clone()
}

/// Polls `/upstreams` until `cond` holds for server `addr` (5 s at most);
/// the entry that satisfied it.
pub fn wait_server(
    admin: SocketAddr,
    name: &str,
    addr: SocketAddr,
    within: Duration,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(within, || {
        last = server(&upstreams(admin), name, addr);
        cond(&last)
    });
    assert!(ok, "server {addr} of {name} never got there: {last}");
    last
}

/// The sum of family `name`'s samples for one server (labels `upstream`,
/// `server`, plus `extra`): health metrics are process-wide, and the
/// server's address (a fresh port) keeps tests in one binary apart.
pub fn server_metric(
    admin: SocketAddr,
    name: &str,
    upstream: &str,
    addr: SocketAddr,
    extra: &[(&str, &str)],
) -> f64 {
    let a = addr.to_string();
    let mut want = vec![("upstream", upstream), ("server", a.as_str())];
    want.extend_from_slice(extra);
    metrics::scrape_sum(admin, name, &want)
}

/// How many of `origin`'s requests were health probes (`/health…`).
pub fn probes(received: &[shardgate_testkit::Request]) -> usize {
    received
        .iter()
        .filter(|r| r.target.starts_with("/health"))
        .count()
}

/// `n` GETs of `/` on one keep-alive connection (a fresh one after a
/// close); the bodies, in order (a gateway error's body is its own).
pub fn get_many(gw: SocketAddr, n: usize) -> Vec<(u16, String)> {
    let mut out = Vec::with_capacity(n);
    let mut c = Client::connect(gw).unwrap();
    for _ in 0..n {
        let r = match c.get("a", "/") {
            Ok(r) => r,
            Err(_) => {
                c = Client::connect(gw).unwrap();
                c.get("a", "/").unwrap()
            }
        };
        if r.closes() {
            c = Client::connect(gw).unwrap();
        }
        out.push((r.status, r.body_str()));
    }
    out
}
