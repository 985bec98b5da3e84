//! Host names in `servers`, `resolve_interval` and `[resolver]`: checked for
//! syntax only (the config crate resolves nothing), each problem at its key.

use std::time::Duration;

use shardgate_config::{parse, Error, NamedServer, ResolverConfig};

fn errors(src: &str) -> Vec<String> {
    match parse(src, "t.toml") {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(Error::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("expected diagnostics, got {e}"),
    }
}

/// A listener and a route, then `rest` from line 6 on.
fn doc(rest: &[&str]) -> String {
    let mut lines = vec![
        "[[listener]]",
        "name = \"l\"",
        "address = \"127.0.0.1:1\"",
        "[[route]]",
        "proxy = \"app\"",
    ];
    lines.extend_from_slice(rest);
    lines.join("\n") + "\n"
}

#[test]
fn names_are_kept_apart_from_addresses_with_where_they_are_written() {
    let cfg = parse(
        &doc(&[
            "[[upstream]]",
            "name = \"app\"",
            "servers = [\"10.0.0.1:80\", { address = \"App.Internal.:8080\", weight = 4 }, \"localhost:81\"]",
            "resolve_interval = \"5s\"",
        ]),
        "t.toml",
    )
    .unwrap();
    let u = &cfg.upstreams[0];
    assert_eq!(u.servers.len(), 1);
    assert_eq!(u.servers[0].host, None);
    assert_eq!(
        u.named,
        [
            NamedServer {
                host: "app.internal".into(),
                port: 8080,
                weight: 4,
                site: "t.toml:8:39: upstream[0].servers[1].address".into(),
            },
            NamedServer {
                host: "localhost".into(),
                port: 81,
                weight: 1,
                site: "t.toml:8:75: upstream[0].servers[2]".into(),
            },
        ]
    );
    assert_eq!(u.resolve_interval, Duration::from_secs(5));
    assert_eq!(cfg.resolver, ResolverConfig::default());
}

#[test]
fn an_upstream_of_names_only_is_valid() {
    let cfg = parse(
        &doc(&[
            "[[upstream]]",
            "name = \"app\"",
            "servers = [\"app.internal:80\"]",
        ]),
        "t.toml",
    )
    .unwrap();
    assert!(cfg.upstreams[0].servers.is_empty());
    assert_eq!(cfg.upstreams[0].named.len(), 1);
    assert_eq!(cfg.upstreams[0].resolve_interval, Duration::from_secs(30));
}

#[test]
fn resolver_settings() {
    let cfg = parse(
        &doc(&[
            "[[upstream]]",
            "name = \"app\"",
            "servers = [\"app.internal:80\"]",
            "[resolver]",
            "nameservers = [\"10.0.0.2\", \"127.0.0.1:5353\", \"[::1]:53\"]",
            "timeout = \"500ms\"",
        ]),
        "t.toml",
    )
    .unwrap();
    let want: Vec<std::net::SocketAddr> = ["10.0.0.2:53", "127.0.0.1:5353", "[::1]:53"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(cfg.resolver.nameservers, want);
    assert_eq!(cfg.resolver.timeout, Duration::from_millis(500));
}

#[test]
fn bad_names_intervals_and_resolvers_are_reported_at_their_keys() {
    let errs = errors(&doc(&[
        "[[upstream]]",
        "name = \"app\"",
        "servers = [\"app.test:80\", \"APP.test:80\", \"::1:80\", \"bad_name:80\", \"app.test:0\"]",
        "resolve_interval = \"10ms\"",
        "[resolver]",
        "nameservers = [\"dns.internal\", \"10.0.0.2\", \"10.0.0.2:53\"]",
        "timeout = \"1m\"",
    ]));
    assert_eq!(
        errs,
        [
            "t.toml:8:27: upstream[0].servers[1]: server app.test:80 is listed twice (also upstream[0].servers[0])",
            "t.toml:8:42: upstream[0].servers[2]: \"::1:80\" is not a valid address (an IPv6 address goes in brackets); write an IP address or a host name with a port, e.g. \"10.0.0.1:8080\", \"[::1]:8080\" or \"app.internal:8080\"",
            "t.toml:8:52: upstream[0].servers[3]: \"bad_name:80\" is not a valid host name; write an IP address or a host name with a port, e.g. \"10.0.0.1:8080\", \"[::1]:8080\" or \"app.internal:8080\"",
            "t.toml:8:67: upstream[0].servers[4]: port 0 cannot be connected to",
            "t.toml:9:20: upstream[0].resolve_interval: must be between 100ms and 24h (got 10ms)",
            "t.toml:11:16: resolver.nameservers[0]: \"dns.internal\" is not an IP address (with an optional port), e.g. \"10.0.0.2\" or \"127.0.0.1:5353\"",
            "t.toml:11:44: resolver.nameservers[2]: 10.0.0.2:53 is listed twice",
            "t.toml:12:11: resolver.timeout: must be between 100ms and 30s (got 1m)",
        ]
    );
}
