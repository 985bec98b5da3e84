//! Valid configurations: what the model holds after parsing.

use std::time::Duration;

use shardgate_config::{
    parse, Config, Driver, ForwardedHeaders, HeaderRewrite, LbPolicy, PoolConfig, Protocol,
    RequestIdConfig, RetryConfig, RouteAction, RouteConfig, ServerConfig, StaticResponse, Steering,
    TimeoutOverrides, UpstreamServer,
};

fn ok(src: &str) -> Config {
    parse(src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

const MINIMAL: &str = r#"
[[listener]]
name = "l"
address = "127.0.0.1:8080"
"#;

#[test]
fn minimal_config_gets_every_default() {
    let config = ok(MINIMAL);
    assert_eq!(config.server, ServerConfig::default());
    assert_eq!(config.server.shards, 0);
    assert_eq!(config.server.buffer_size, 16 * 1024);
    assert!(config.server.splice, "bodies are spliced by default");
    assert_eq!(config.server.timeouts.header_read, Duration::from_secs(10));
    assert_eq!(config.server.limits.max_request_line, 8 * 1024);
    assert_eq!(config.admin, None);
    assert!(config.routes.is_empty() && config.upstreams.is_empty());
    assert_eq!(config.access_log, None);
    assert_eq!(config.request_id, RequestIdConfig::default());
    let l = &config.listeners[0];
    assert_eq!(
        (l.protocol, l.tcp_fast_open, l.backlog),
        (Protocol::Http, 0, 1024)
    );
}

#[test]
fn server_section_is_read() {
    let config = ok(&format!(
        "{MINIMAL}\n{}",
        r#"
[server]
shards = 4
driver = "io_uring"
steering = "cpu"
max_connections_per_shard = 100
buffer_size = "64KiB"
splice = false
[server.timeouts]
header_read = "250ms"
keepalive = "1m30s"
body_read = "1h"
send = "5s"
shutdown_grace = "2m"
[server.limits]
max_request_line = 4096
max_header_bytes = "32KB"
max_headers = 256
max_body_bytes = "1GiB"
"#
    ));
    let s = config.server;
    assert_eq!(
        (s.shards, s.driver, s.steering),
        (4, Driver::IoUring, Steering::Cpu)
    );
    assert_eq!((s.max_connections_per_shard, s.buffer_size), (100, 65536));
    assert!(!s.splice);
    assert_eq!(s.timeouts.header_read, Duration::from_millis(250));
    assert_eq!(s.timeouts.keepalive, Duration::from_secs(90));
    assert_eq!(s.timeouts.body_read, Duration::from_secs(3600));
    assert_eq!(s.timeouts.send, Duration::from_secs(5));
    assert_eq!(s.timeouts.shutdown_grace, Duration::from_secs(120));
    assert_eq!(s.limits.max_request_line, 4096);
    assert_eq!(s.limits.max_header_bytes, 32_000);
    assert_eq!(s.limits.max_headers, 256);
    assert_eq!(s.limits.max_body_bytes, 1 << 30);
}

#[test]
fn admin_section_alone_uses_the_default_address() {
    let config = ok(&format!("{MINIMAL}\n[admin]\n"));
    assert_eq!(config.admin.unwrap().address.to_string(), "127.0.0.1:9901");
    let config = ok(&format!("{MINIMAL}\n[admin]\naddress = \"[::1]:9000\"\n"));
    assert_eq!(config.admin.unwrap().address.to_string(), "[::1]:9000");
}

#[test]
fn routes_are_normalized_and_complete() {
    let config = ok(r#"
[[listener]]
name = "a"
address = "127.0.0.1:1"
[[listener]]
name = "b"
address = "[::1]:2"

[[upstream]]
name = "up"
servers = ["10.0.0.1:80", { address = "10.0.0.2:80", weight = 3 }, { address = "[2001:db8::1]:81" }]
lb = "weighted_round_robin"
connect_timeout = "1s"
response_timeout = "2s"
read_timeout = "3s"
tcp_fast_open = true
[upstream.pool]
max_idle_per_host = 0
max_conns_per_host = 10
idle_timeout = "5s"
idle_timeout_jitter = 0
max_pending = 7
pending_timeout = "250ms"

[[route]]
name = "api"
listeners = ["b"]
hosts = ["API.Example.com.", "*.Example.COM"]
path_prefix = "/api/"
proxy = "up"
request_headers = { remove = ["X-Debug"], set = { "X-Z" = "1", "X-A" = "2", host = "internal" }, add = { "x-tag" = "a b" } }
response_headers = { set = { "Server" = "shardgate" } }
forwarded = { forwarded = true, x_forwarded_for = false }

[[route]]
respond = { status = 404, headers = { "content-type" = "text/plain", "cache-control" = "no-store" } }
"#);
    assert_eq!(
        config.routes[0],
        RouteConfig {
            name: "api".into(),
            listeners: vec!["b".into()],
            hosts: vec!["api.example.com".into(), "*.example.com".into()],
            path_prefix: "/api/".into(),
            action: RouteAction::Proxy {
                upstream: "up".into()
            },
            request_headers: HeaderRewrite {
                remove: vec!["x-debug".into()],
                // File order, not alphabetical; names keep their case.
                set: vec![
                    ("X-Z".into(), "1".into()),
                    ("X-A".into(), "2".into()),
                    ("host".into(), "internal".into()),
                ],
                add: vec![("x-tag".into(), "a b".into())],
            },
            response_headers: HeaderRewrite {
                set: vec![("Server".into(), "shardgate".into())],
                ..HeaderRewrite::default()
            },
            forwarded: ForwardedHeaders {
                x_forwarded_for: false,
                x_forwarded_proto: true,
                forwarded: true,
                via: false,
            },
            access_log: true,
            retry: RetryConfig::default(),
            timeouts: TimeoutOverrides::default(),
            rate_limits: Vec::new(),
            max_in_flight: 0,
        }
    );
    let unnamed = &config.routes[1];
    assert_eq!(unnamed.name, "route[1]");
    assert!(unnamed.listeners.is_empty() && unnamed.hosts.is_empty());
    assert_eq!(unnamed.path_prefix, "/");
    assert_eq!(
        unnamed.action,
        RouteAction::Respond(StaticResponse {
            status: 404,
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: String::new(),
        })
    );

    let up = &config.upstreams[0];
    let servers: Vec<(String, u32)> = up
        .servers
        .iter()
        .map(
            |UpstreamServer {
                 address, weight, ..
             }| (address.to_string(), *weight),
        )
        .collect();
    assert_eq!(
        servers,
        [
            ("10.0.0.1:80".to_string(), 1),
            ("10.0.0.2:80".to_string(), 3),
            ("[2001:db8::1]:81".to_string(), 1)
        ]
    );
    assert_eq!(up.lb, LbPolicy::WeightedRoundRobin);
    assert_eq!(
        (up.connect_timeout, up.response_timeout, up.read_timeout),
        (
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(3)
        )
    );
    assert!(up.tcp_fast_open);
    assert_eq!(
        up.pool,
        PoolConfig {
            max_idle_per_host: 0,
            max_conns_per_host: 10,
            idle_timeout: Duration::from_secs(5),
            idle_timeout_jitter: 0.0,
            max_pending: 7,
            pending_timeout: Duration::from_millis(250),
        }
    );
}

#[test]
fn listeners_may_be_written_as_an_inline_array() {
    let config = ok(
        r#"listener = [{ name = "x", address = "0.0.0.0:80", backlog = 10, tcp_fast_open = 16, max_connections_per_client = 64 }]"#,
    );
    let l = &config.listeners[0];
    assert_eq!(
        (
            l.name.as_str(),
            l.backlog,
            l.tcp_fast_open,
            l.max_connections_per_client
        ),
        ("x", 10, 16, 64)
    );
}

#[test]
fn same_prefix_with_different_hosts_is_not_an_overlap() {
    let config = ok(&format!(
        "{MINIMAL}{}",
        r#"
[[route]]
hosts = ["a.com"]
respond = { status = 200 }
[[route]]
hosts = ["*.a.com"]
respond = { status = 200 }
[[route]]
respond = { status = 200 }
[[route]]
path_prefix = "/x"
respond = { status = 200 }
"#
    ));
    assert_eq!(config.routes.len(), 4);
}
