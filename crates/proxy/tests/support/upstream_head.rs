//! Shared by the `rewrite_*` request tests: write an upstream head with
//! `write_upstream_request` and parse it back for field-by-field comparison.
#![allow(dead_code, unused_imports)] // each test file uses a different subset

pub use std::net::IpAddr;

pub use httparse::Header;
pub use shardgate_config::{
    ForwardedHeaders, HeaderRewrite, RetryConfig, RouteAction, RouteConfig, TimeoutOverrides,
};
pub use shardgate_proxy::{write_upstream_request, ForwardCtx, Framing};

pub fn route() -> RouteConfig {
    RouteConfig {
        name: "r".into(),
        listeners: vec![],
        hosts: vec![],
        path_prefix: "/".into(),
        action: RouteAction::Proxy {
            upstream: "up".into(),
        },
        request_headers: HeaderRewrite::default(),
        response_headers: HeaderRewrite::default(),
        forwarded: ForwardedHeaders::default(),
        access_log: RouteConfig::DEFAULT_ACCESS_LOG,
        retry: RetryConfig::default(),
        timeouts: TimeoutOverrides::default(),
        rate_limits: Vec::new(),
        max_in_flight: 0,
    }
}

pub fn no_forwarding() -> ForwardedHeaders {
    ForwardedHeaders {
        x_forwarded_for: false,
        x_forwarded_proto: false,
        forwarded: false,
        via: false,
    }
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Parses `head` as "name: value" lines into httparse headers.
pub fn headers(raw: &[(&'static str, &'static str)]) -> Vec<Header<'static>> {
    raw.iter()
        .map(|&(name, value)| Header {
            name,
            value: value.as_bytes(),
        })
        .collect()
}

pub struct Parsed {
    pub method: String,
    pub path: String,
    pub version: u8,
    pub fields: Vec<(String, String)>,
}

/// Re-parses what was written; the head must be complete and end the buffer.
pub fn parse(out: &[u8]) -> Parsed {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut hs);
    let status = req.parse(out).expect("valid HTTP/1.1 request head");
    assert_eq!(
        status,
        httparse::Status::Complete(out.len()),
        "{}",
        String::from_utf8_lossy(out)
    );
    Parsed {
        method: req.method.unwrap().to_string(),
        path: req.path.unwrap().to_string(),
        version: req.version.unwrap(),
        fields: req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect(),
    }
}

pub struct Req<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub headers: &'a [(&'static str, &'static str)],
    pub ip: &'a str,
    pub host: Option<&'a str>,
    pub framing: Framing,
    pub upgrade: Option<&'a str>,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Req {
            method: "GET",
            target: "/",
            headers: &[],
            ip: "10.0.0.9",
            host: None,
            framing: Framing::None,
            upgrade: None,
        }
    }
}

pub fn write(req: Req<'_>, route: &RouteConfig) -> Parsed {
    let hs = headers(req.headers);
    let ip: IpAddr = req.ip.parse().unwrap();
    let ctx = ForwardCtx {
        client_ip: ip,
        scheme: "http",
        host: req.host,
        route,
        request_id: None,
        via: shardgate_proxy::VIA_HTTP11,
    };
    let mut out = b"leftover".to_vec();
    out.clear();
    write_upstream_request(
        &mut out,
        req.method,
        req.target,
        &hs,
        &ctx,
        req.framing,
        req.upgrade,
    );
    parse(&out)
}
