use super::*;
use crate::model::ForwardedHeaders;
use crate::{duration, size};

fn word_driver(d: Driver) -> &'static str {
    match d {
        Driver::Auto => "auto",
        Driver::IoUring => "io_uring",
        Driver::Epoll => "epoll",
    }
}

fn word_steering(s: Steering) -> &'static str {
    match s {
        Steering::Cpu => "cpu",
        Steering::Hash => "hash",
        Steering::None => "none",
    }
}

fn word_lb(lb: LbPolicy) -> &'static str {
    match lb {
        LbPolicy::RoundRobin => "round_robin",
        LbPolicy::WeightedRoundRobin => "weighted_round_robin",
        LbPolicy::LeastRequest => "least_request",
        LbPolicy::P2c => "p2c",
        LbPolicy::Random => "random",
        LbPolicy::ConsistentHash => "consistent_hash",
    }
}

fn word_protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Http => "http",
        Protocol::H3 => "h3",
    }
}

/// The docs write every default duration in seconds, as a user would.
fn dur(d: Duration) -> String {
    assert_eq!(d.subsec_nanos(), 0, "default {d:?} is not whole seconds");
    let text = format!("{}s", d.as_secs());
    assert_eq!(duration::parse(&text), Ok(d));
    format!("\"{text}\"")
}

/// Durations that are not whole seconds, in their canonical spelling.
fn any_dur(d: Duration) -> String {
    let text = duration::format(d);
    assert_eq!(duration::parse(&text), Ok(d));
    format!("\"{text}\"")
}

/// Sizes render as written in the docs: a unit string, or 0 as an integer.
fn bytes(n: usize) -> String {
    let n = u64::try_from(n).unwrap();
    if n == 0 {
        "0".to_string()
    } else {
        format!("\"{}\"", size::format(n))
    }
}

/// `server_id` as written in the file.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `on` as written in the file: `["connect-failure"]`.
fn on_words(on: RetryOn) -> String {
    let words: Vec<String> = RetryOn::WORDS
        .iter()
        .filter(|w| on.has(w))
        .map(|w| quoted(w))
        .collect();
    format!("[{}]", words.join(", "))
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// The docs tables show `| key | type | default |` for every key; they must
/// match the code's defaults.
#[test]
fn docs_tables_show_the_code_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let docs = std::fs::read_to_string(path).unwrap();
    let server = ServerConfig::default();
    let t = &server.timeouts;
    let l = &server.limits;
    let pool = PoolConfig::default();
    let fwd = ForwardedHeaders::default();
    let quic = QuicConfig::default();
    let check = HealthCheckConfig::default();
    assert_eq!(check.kind, HealthCheckKind::Tcp);
    let outlier = OutlierConfig::default();
    let backoff = BackoffConfig::default();
    let retry = RetryConfig::default();
    let budget = RetryBudgetConfig::default();
    let ac = AdaptiveConcurrencyConfig::default();
    let rows: Vec<(&str, &str, String)> = vec![
        ("shards", "integer", server.shards.to_string()),
        ("driver", "string", quoted(word_driver(server.driver))),
        ("steering", "string", quoted(word_steering(server.steering))),
        (
            "max_connections_per_shard",
            "integer",
            server.max_connections_per_shard.to_string(),
        ),
        ("buffer_size", "size", bytes(server.buffer_size)),
        ("header_read", "duration", dur(t.header_read)),
        ("keepalive", "duration", dur(t.keepalive)),
        ("body_read", "duration", dur(t.body_read)),
        ("send", "duration", dur(t.send)),
        ("shutdown_grace", "duration", dur(t.shutdown_grace)),
        ("tls_handshake", "duration", dur(t.tls_handshake)),
        ("lingering_time", "duration", dur(t.lingering_time)),
        ("lingering_timeout", "duration", dur(t.lingering_timeout)),
        (
            "min_version",
            "string",
            quoted(match TlsConfig::DEFAULT_MIN_VERSION {
                TlsVersion::Tls12 => "1.2",
                TlsVersion::Tls13 => "1.3",
            }),
        ),
        (
            "session_tickets",
            "bool",
            TlsConfig::DEFAULT_SESSION_TICKETS.to_string(),
        ),
        ("max_request_line", "size", bytes(l.max_request_line)),
        ("max_header_bytes", "size", bytes(l.max_header_bytes)),
        ("max_headers", "integer", l.max_headers.to_string()),
        ("max_body_bytes", "size", l.max_body_bytes.to_string()),
        ("max_in_flight", "integer", l.max_in_flight.to_string()),
        (
            "address",
            "address",
            quoted(&AdminConfig::default().address.to_string()),
        ),
        (
            "protocol",
            "string",
            quoted(word_protocol(Protocol::default())),
        ),
        (
            "tcp_fast_open",
            "integer",
            ListenerConfig::DEFAULT_TCP_FAST_OPEN.to_string(),
        ),
        (
            "backlog",
            "integer",
            ListenerConfig::DEFAULT_BACKLOG.to_string(),
        ),
        (
            "defer_accept",
            "bool",
            ListenerConfig::DEFAULT_DEFER_ACCEPT.to_string(),
        ),
        (
            "max_connections_per_client",
            "integer",
            ListenerConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT.to_string(),
        ),
        (
            "max_connections",
            "integer",
            quic.max_connections.to_string(),
        ),
        ("max_idle_time", "duration", dur(quic.max_idle_time)),
        ("idle_jitter", "float", quic.idle_jitter.to_string()),
        (
            "max_streams_per_connection",
            "integer",
            quic.max_streams_per_connection.to_string(),
        ),
        ("retry", "bool", quic.retry.to_string()),
        (
            "retry_threshold",
            "integer",
            quic.retry_threshold.to_string(),
        ),
        ("early_data", "bool", quic.early_data.to_string()),
        ("server_id", "string", quoted(&hex(&quic.server_id))),
        // The route's default name, with its index written as N.
        ("name", "name", quoted("route[N]")),
        (
            "path_prefix",
            "string",
            quoted(RouteConfig::DEFAULT_PATH_PREFIX),
        ),
        ("x_forwarded_for", "bool", fwd.x_forwarded_for.to_string()),
        (
            "x_forwarded_proto",
            "bool",
            fwd.x_forwarded_proto.to_string(),
        ),
        ("forwarded", "bool", fwd.forwarded.to_string()),
        ("via", "bool", fwd.via.to_string()),
        ("lb", "string", quoted(word_lb(LbPolicy::default()))),
        (
            "connect_timeout",
            "duration",
            dur(UpstreamConfig::DEFAULT_CONNECT_TIMEOUT),
        ),
        (
            "response_timeout",
            "duration",
            dur(UpstreamConfig::DEFAULT_RESPONSE_TIMEOUT),
        ),
        (
            "read_timeout",
            "duration",
            dur(UpstreamConfig::DEFAULT_READ_TIMEOUT),
        ),
        (
            "tcp_fast_open",
            "bool",
            UpstreamConfig::DEFAULT_TCP_FAST_OPEN.to_string(),
        ),
        (
            "weight",
            "integer",
            UpstreamServer::DEFAULT_WEIGHT.to_string(),
        ),
        (
            "resolve_interval",
            "duration",
            dur(UpstreamConfig::DEFAULT_RESOLVE_INTERVAL),
        ),
        (
            "timeout",
            "duration",
            dur(ResolverConfig::default().timeout),
        ),
        (
            "max_idle_per_host",
            "integer",
            pool.max_idle_per_host.to_string(),
        ),
        (
            "max_conns_per_host",
            "integer",
            pool.max_conns_per_host.to_string(),
        ),
        ("idle_timeout", "duration", dur(pool.idle_timeout)),
        (
            "idle_timeout_jitter",
            "float",
            pool.idle_timeout_jitter.to_string(),
        ),
        ("max_pending", "integer", pool.max_pending.to_string()),
        ("pending_timeout", "duration", dur(pool.pending_timeout)),
        ("kind", "string", quoted("tcp")),
        ("path", "string", quoted(&check.path)),
        (
            "expect_status",
            "string",
            quoted(&check.expect_status.to_string()),
        ),
        ("interval", "duration", any_dur(check.interval)),
        ("jitter", "float", check.jitter.to_string()),
        ("timeout", "duration", any_dur(check.timeout)),
        (
            "healthy_threshold",
            "integer",
            check.healthy_threshold.to_string(),
        ),
        (
            "unhealthy_threshold",
            "integer",
            check.unhealthy_threshold.to_string(),
        ),
        (
            "consecutive_failures",
            "integer",
            outlier.consecutive_failures.to_string(),
        ),
        ("on_5xx", "bool", outlier.on_5xx.to_string()),
        (
            "base_ejection_time",
            "duration",
            any_dur(outlier.base_ejection_time),
        ),
        (
            "max_ejection_time",
            "duration",
            any_dur(outlier.max_ejection_time),
        ),
        (
            "max_ejection_percent",
            "integer",
            outlier.max_ejection_percent.to_string(),
        ),
        (
            "panic_threshold",
            "integer",
            outlier.panic_threshold.to_string(),
        ),
        ("base", "duration", any_dur(backoff.base)),
        ("factor", "float", backoff.factor.to_string()),
        ("cap", "duration", any_dur(backoff.cap)),
        ("attempts", "integer", retry.attempts.to_string()),
        ("on", "array of strings", on_words(retry.on)),
        ("buffer_body", "size", bytes(retry.buffer_body)),
        ("percent", "integer", budget.percent.to_string()),
        ("key", "string", quoted("client_ip")),
        (
            "status",
            "integer",
            RateLimitConfig::DEFAULT_STATUS.to_string(),
        ),
        (
            "sharing",
            "string",
            quoted(match RateLimitConfig::DEFAULT_SHARING {
                Sharing::Atomic => "atomic",
                Sharing::Split => "split",
            }),
        ),
        (
            "table_size",
            "integer",
            RateLimitConfig::DEFAULT_TABLE_SIZE.to_string(),
        ),
        ("backend", "string", quoted("local")),
        (
            "key_prefix",
            "string",
            quoted(RedisConfig::DEFAULT_KEY_PREFIX),
        ),
        ("timeout", "duration", any_dur(RedisConfig::DEFAULT_TIMEOUT)),
        (
            "sync_interval",
            "duration",
            any_dur(RedisConfig::DEFAULT_SYNC_INTERVAL),
        ),
        (
            "min_per_second",
            "integer",
            budget.min_per_second.to_string(),
        ),
        ("min_limit", "integer", ac.min_limit.to_string()),
        ("max_limit", "integer", ac.max_limit.to_string()),
        ("initial_limit", "integer", ac.initial_limit.to_string()),
        ("window", "duration", any_dur(ac.window)),
        ("window_samples", "integer", ac.window_samples.to_string()),
        ("long_window", "integer", ac.long_window.to_string()),
        ("tolerance", "float", ac.tolerance.to_string()),
        ("smoothing", "float", ac.smoothing.to_string()),
        ("probe_interval", "duration", dur(ac.probe_interval)),
        ("probe_jitter", "float", ac.probe_jitter.to_string()),
        ("probe_ratio", "float", ac.probe_ratio.to_string()),
        ("status", "integer", ac.status.to_string()),
    ];
    let access = AccessLogConfig::default();
    let request_id = RequestIdConfig::default();
    let path = match &access.path {
        AccessLogPath::Stdout => AccessLogPath::STDOUT.to_string(),
        AccessLogPath::File(p) => p.display().to_string(),
    };
    let format = match access.format {
        AccessLogFormat::Json => "json",
        AccessLogFormat::Combined => "combined",
    };
    let rows = [
        rows,
        vec![
            (
                "access_log",
                "bool",
                RouteConfig::DEFAULT_ACCESS_LOG.to_string(),
            ),
            ("path", "string", quoted(&path)),
            ("format", "string", quoted(format)),
            ("enabled", "bool", request_id.enabled.to_string()),
            ("header", "string", quoted(&request_id.header)),
        ],
    ]
    .concat();
    assert_eq!(RouteConfig::default_name(7), "route[7]");
    let missing: Vec<String> = rows
        .iter()
        .map(|(key, ty, default)| format!("| `{key}` | {ty} | `{default}` |"))
        .filter(|row| !docs.contains(row.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rows missing from docs/configuration.md:\n{}",
        missing.join("\n")
    );
}
