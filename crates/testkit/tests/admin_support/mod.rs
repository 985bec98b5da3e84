//! What the admin API tests share: requests with exact headers, JSON bodies.

#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::Value;
use shardgate_testkit::{Client, Response};

/// The admin listener on loopback (it may be bound to 0.0.0.0).
pub fn admin(gw: &shardgate_testkit::Gateway) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], gw.admin().unwrap().port()))
}

/// One request; `token` goes in `Authorization: Bearer`.
pub fn call(admin: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Response {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let body = if method == "POST" {
        "content-length: 0\r\n"
    } else {
        ""
    };
    let req = format!("{method} {path} HTTP/1.1\r\nhost: admin\r\n{auth}{body}\r\n");
    Client::connect(admin)
        .unwrap()
        .request(req.as_bytes())
        .unwrap()
}

pub fn json(r: &Response) -> Value {
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{} {}",
        r.status,
        r.body_str()
    );
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body_str()))
}

pub fn get_json(admin: SocketAddr, path: &str, token: Option<&str>) -> Value {
    let r = call(admin, "GET", path, token);
    assert_eq!(r.status, 200, "{path}: {}", r.body_str());
    json(&r)
}

/// `curl -X POST` as an operator would, with the status and parsed body.
pub fn curl_post(admin: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let url = format!("http://{admin}{path}");
    let header = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["-X", "POST", url.as_str()];
    if let Some(h) = &header {
        args.extend(["-H", h.as_str()]);
    }
    let out = shardgate_testkit::tools::curl(&args).unwrap();
    let body =
        serde_json::from_slice(&out.body).unwrap_or_else(|e| panic!("{e}: {}", out.body_str()));
    (out.status, body)
}

/// The sum of a metric's samples with these labels.
pub fn metric(admin: SocketAddr, name: &str, token: Option<&str>) -> f64 {
    let text = call(admin, "GET", "/metrics", token).body_str();
    shardgate_testkit::metrics::sum(&text, name, &[]).0
}
