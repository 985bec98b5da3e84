//! Config values for unit tests, built directly (the parser lives elsewhere).

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
        access_log: RouteConfig::DEFAULT_ACCESS_LOG,
        retry: RetryConfig::default(),
        timeouts: TimeoutOverrides::default(),
        rate_limits: Vec::new(),
        max_in_flight: 0,
    }
}

pub(crate) fn config(listeners: &[&str], routes: Vec<RouteConfig>) -> Config {
    Config {
        server: ServerConfig {
            shards: 1,
            steering: Steering::None,
            max_connections_per_shard: 1024,
            ..ServerConfig::default()
        },
        admin: None,
        listeners: listeners
            .iter()
            .enumerate()
            .map(|(i, name)| {
                ListenerConfig::with_defaults(name, ([127, 0, 0, 1], 8000 + i as u16).into())
            })
            .collect(),
        routes,
        upstreams: Vec::new(),
        access_log: None,
        request_id: RequestIdConfig::default(),
        resolver: ResolverConfig::default(),
    }
}

/// `(name, value)` pairs as owned strings, for readable assertions.
pub(crate) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}
