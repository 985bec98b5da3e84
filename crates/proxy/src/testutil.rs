//! Config values for unit tests, built directly (the parser lives elsewhere).

use std::time::Duration;

use shardgate_config::*;

pub(crate) fn route(hosts: &[&str], prefix: &str) -> RouteConfig {
    RouteConfig {
        name: format!("{hosts:?}{prefix}"),
        listeners: Vec::new(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        path_prefix: prefix.to_string(),
        action: RouteAction::Proxy {
            upstream: "up".to_string(),
        },
        request_headers: HeaderRewrite::default(),
        response_headers: HeaderRewrite::default(),
        forwarded: ForwardedHeaders::default(),
    }
}

pub(crate) fn config(listeners: &[&str], routes: Vec<RouteConfig>) -> Config {
    Config {
        server: ServerConfig {
            shards: 1,
            driver: Driver::Auto,
            steering: Steering::None,
            max_connections_per_shard: 1024,
            buffer_size: 16 * 1024,
            timeouts: ServerTimeouts {
                header_read: Duration::from_secs(10),
                keepalive: Duration::from_secs(60),
                body_read: Duration::from_secs(30),
                send: Duration::from_secs(30),
                shutdown_grace: Duration::from_secs(10),
                tls_handshake: Duration::from_secs(10),
            },
            limits: HttpLimits {
                max_request_line: 8192,
                max_header_bytes: 16 * 1024,
                max_headers: 100,
                max_body_bytes: 0,
            },
        },
        admin: None,
        listeners: listeners
            .iter()
            .enumerate()
            .map(|(i, name)| ListenerConfig {
                name: name.to_string(),
                address: ([127, 0, 0, 1], 8000 + i as u16).into(),
                protocol: Protocol::Http,
                tcp_fast_open: 0,
                backlog: 1024,
                defer_accept: true,
                tls: None,
            })
            .collect(),
        routes,
        upstreams: Vec::new(),
    }
}

/// `(name, value)` pairs as owned strings, for readable assertions.
pub(crate) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}
