//! A route table of the size a busy edge gateway carries (~100 routes), and
//! configs built directly from the model (no TOML) for benches that only need
//! the routing and rewrite inputs.

use shardgate_config::{
    Config, ForwardedHeaders, HeaderRewrite, ListenerConfig, RequestIdConfig, ResolverConfig,
    RetryConfig, RouteAction, RouteConfig, ServerConfig, Steering, TimeoutOverrides,
};

/// Exact-host services, each with an `/api/` and a `/` route.
pub const EXACT_HOSTS: usize = 30;
/// Tenants reached through a wildcard (`*.tenantN.example.net`).
pub const WILDCARD_TENANTS: usize = 30;
/// Catch-all prefixes (no `hosts`), longest first in precedence.
pub const CATCH_ALL: [&str; 10] = [
    "/static/",
    "/assets/",
    "/api/v1/",
    "/api/v2/",
    "/health",
    "/metrics",
    "/login",
    "/.well-known/",
    "/favicon.ico",
    "/",
];

/// One request to look up and the route index it must resolve to.
pub struct Lookup {
    pub name: &'static str,
    pub host: &'static str,
    pub path: &'static str,
    pub want: usize,
}

/// Lookups that exercise each class of the table; `want` indexes
/// [`route_table`]'s routes.
pub fn lookups() -> [Lookup; 3] {
    [
        // Exact host, longest prefix: the `/api/` route of service 17.
        Lookup {
            name: "exact",
            host: "svc17.example.com",
            path: "/api/users/42?fields=name",
            want: 17 * 2,
        },
        // Two labels in front of the wildcard suffix: the lookup first tries
        // the longer suffix `eu.tenant23.example.net`, then the match.
        Lookup {
            name: "wildcard",
            host: "shop.eu.tenant23.example.net:443",
            path: "/cart",
            want: EXACT_HOSTS * 2 + 23,
        },
        // No host class matches (every suffix is tried), then the catch-alls
        // are scanned up to `/static/`.
        Lookup {
            name: "catch_all",
            host: "unknown.example.org",
            path: "/static/img/logo.png",
            want: EXACT_HOSTS * 2 + WILDCARD_TENANTS,
        },
    ]
}

/// 30 × 2 exact-host routes, 30 wildcard routes and 10 catch-alls: 100 routes on
/// one listener.
pub fn route_table() -> Config {
    let mut routes = Vec::new();
    for i in 0..EXACT_HOSTS {
        let host = format!("svc{i}.example.com");
        routes.push(proxy_route(&[&host], "/api/"));
        routes.push(proxy_route(&[&host], "/"));
    }
    for i in 0..WILDCARD_TENANTS {
        routes.push(proxy_route(&[&format!("*.tenant{i}.example.net")], "/"));
    }
    for prefix in CATCH_ALL {
        routes.push(proxy_route(&[], prefix));
    }
    config(routes)
}

/// A route to upstream `up` with default forwarding headers.
pub fn proxy_route(hosts: &[&str], prefix: &str) -> RouteConfig {
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

/// One listener named `public`, one shard, the given routes, no upstreams
/// (the router does not need them).
pub fn config(routes: Vec<RouteConfig>) -> Config {
    Config {
        server: ServerConfig {
            shards: 1,
            steering: Steering::None,
            max_connections_per_shard: 1024,
            ..ServerConfig::default()
        },
        admin: None,
        listeners: vec![ListenerConfig::with_defaults(
            "public",
            ([127, 0, 0, 1], 0).into(),
        )],
        routes,
        upstreams: Vec::new(),
        access_log: None,
        request_id: RequestIdConfig::default(),
        resolver: ResolverConfig::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proxy::Router;

    #[test]
    fn table_has_100_routes_and_lookups_resolve_as_documented() {
        let cfg = route_table();
        assert_eq!(cfg.routes.len(), 100);
        let router = Router::new(&cfg);
        for l in lookups() {
            assert_eq!(
                router.lookup(0, Some(l.host), l.path),
                Some(l.want),
                "{}",
                l.name
            );
        }
        // The expected indexes name the routes the comments describe.
        let [exact, wildcard, catch_all] = lookups();
        assert_eq!(cfg.routes[exact.want].hosts, ["svc17.example.com"]);
        assert_eq!(cfg.routes[exact.want].path_prefix, "/api/");
        assert_eq!(cfg.routes[wildcard.want].hosts, ["*.tenant23.example.net"]);
        assert!(cfg.routes[catch_all.want].hosts.is_empty());
        assert_eq!(cfg.routes[catch_all.want].path_prefix, "/static/");
    }
}
