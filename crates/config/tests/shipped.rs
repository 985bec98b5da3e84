//! Every config file shipped in `config/` must load, and the reference config
//! must describe the setup the README promises.

use std::path::{Path, PathBuf};

use shardgate_config::{
    load, Config, ListenerConfig, RequestIdConfig, ResolverConfig, RetryBudgetConfig, RetryConfig,
    RouteAction, RouteConfig, ServerConfig, TimeoutOverrides, UpstreamConfig, UpstreamServer,
};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_file_parses() {
    let mut files = Vec::new();
    toml_files(&config_dir(), &mut files);
    files.sort();
    // The reference config and at least two examples.
    assert!(files.len() >= 3, "found only {files:?}");
    assert!(files
        .iter()
        .any(|f| f.ends_with("examples/static-only.toml")));
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| load_with_certs(f).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Loads `file`; when it names certificate files (which are not shipped), from
/// a copy in a temporary directory holding freshly made ones.
fn load_with_certs(file: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let cert = l.split("cert = \"").nth(1)?.split('"').next()?;
            let key = l.split("key = \"").nth(1)?.split('"').next()?;
            Some((cert.to_string(), key.to_string()))
        })
        .collect();
    if pairs.is_empty() {
        return load(file).map_err(|e| e.to_string());
    }
    let dir = std::env::temp_dir().join(format!(
        "sg-shipped-{}-{}",
        std::process::id(),
        file.file_stem().unwrap().to_string_lossy()
    ));
    for (cert, key) in &pairs {
        let kp = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        for (name, pem) in [(cert, c.pem()), (key, kp.serialize_pem())] {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, pem).unwrap();
        }
    }
    let copy = dir.join("config.toml");
    std::fs::write(&copy, &text).unwrap();
    let result = load(&copy).map_err(|e| format!("{}: {e}", file.display()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = result?;
    assert!(
        cfg.listeners.iter().any(|l| l.tls.is_some()),
        "{}",
        file.display()
    );
    Ok(cfg)
}

fn reference() -> Config {
    load(&config_dir().join("shardgate.toml")).unwrap()
}

#[test]
fn reference_config_serves_on_its_own() {
    let config = reference();
    let listeners: Vec<(&str, String)> = config
        .listeners
        .iter()
        .map(|l| (l.name.as_str(), l.address.to_string()))
        .collect();
    assert_eq!(
        listeners,
        [
            ("public", "127.0.0.1:8080".to_string()),
            ("internal", "127.0.0.1:8081".to_string())
        ]
    );
    assert_eq!(
        config.admin.as_ref().map(|a| a.address.to_string()),
        Some("127.0.0.1:9901".to_string())
    );

    let route = |listener: &str, prefix: &str| {
        config
            .routes
            .iter()
            .find(|r| r.listeners == [listener] && r.path_prefix == prefix)
            .unwrap_or_else(|| panic!("no route on {listener} for {prefix}"))
    };
    let RouteAction::Respond(root) = &route("public", "/").action else {
        panic!("public / must respond");
    };
    assert_eq!(
        (root.status, root.body.as_str()),
        (200, "shardgate is running\n")
    );
    assert_eq!(root.headers, [("content-type".into(), "text/plain".into())]);

    let proxied = route("public", "/proxied/");
    assert_eq!(
        proxied.action,
        RouteAction::Proxy {
            upstream: "internal".into()
        }
    );
    let RouteAction::Respond(inner) = &route("internal", "/").action else {
        panic!("internal / must respond");
    };
    assert_eq!(
        (inner.status, inner.body.as_str()),
        (200, "hello from behind the proxy\n")
    );

    // The proxied route really reaches the internal listener.
    let upstream = config
        .upstreams
        .iter()
        .find(|u| u.name == "internal")
        .unwrap();
    assert_eq!(
        upstream.servers,
        [UpstreamServer {
            address: "127.0.0.1:8081".parse().unwrap(),
            weight: 1,
            host: None,
        }]
    );
}

/// The reference config spells out every default, so its values must be the
/// code's defaults: a change to one without the other fails here.
#[test]
fn reference_config_shows_the_defaults() {
    let config = reference();
    assert_eq!(config.server, ServerConfig::default());
    let public = &config.listeners[0];
    assert_eq!(public.backlog, ListenerConfig::DEFAULT_BACKLOG);
    assert_eq!(public.tcp_fast_open, ListenerConfig::DEFAULT_TCP_FAST_OPEN);
    assert_eq!(
        public.max_connections_per_client,
        ListenerConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT
    );
    let upstream = &config.upstreams[0];
    assert_eq!(
        upstream.connect_timeout,
        UpstreamConfig::DEFAULT_CONNECT_TIMEOUT
    );
    assert_eq!(
        upstream.response_timeout,
        UpstreamConfig::DEFAULT_RESPONSE_TIMEOUT
    );
    assert_eq!(upstream.read_timeout, UpstreamConfig::DEFAULT_READ_TIMEOUT);
    assert_eq!(
        upstream.tcp_fast_open,
        UpstreamConfig::DEFAULT_TCP_FAST_OPEN
    );
    assert_eq!(upstream.lb, Default::default());
    assert_eq!(
        upstream.resolve_interval,
        UpstreamConfig::DEFAULT_RESOLVE_INTERVAL
    );
    assert_eq!(upstream.tls, None);
    assert_eq!(upstream.pool, Default::default());
    assert_eq!(upstream.outlier, Default::default());
    assert_eq!(upstream.backoff, Default::default());
    assert_eq!(upstream.health_check, None);
    assert_eq!(upstream.total_timeout, None);
    assert_eq!(upstream.retry_budget, RetryBudgetConfig::default());
    for route in &config.routes {
        assert_eq!(route.forwarded, Default::default(), "{}", route.name);
        assert_eq!(route.retry, RetryConfig::default(), "{}", route.name);
        assert_eq!(
            route.timeouts,
            TimeoutOverrides::default(),
            "{}",
            route.name
        );
        assert_eq!(
            route.access_log,
            RouteConfig::DEFAULT_ACCESS_LOG,
            "{}",
            route.name
        );
    }
    // The access log is off unless asked for; the request id is on.
    assert_eq!(config.access_log, None);
    assert_eq!(config.request_id, RequestIdConfig::default());
    assert_eq!(config.resolver, ResolverConfig::default());
}

#[test]
fn every_key_of_the_schema_appears_in_the_reference_config() {
    let text = std::fs::read_to_string(config_dir().join("shardgate.toml")).unwrap();
    let keys = [
        "shards",
        "driver",
        "steering",
        "max_connections_per_shard",
        "buffer_size",
        "header_read",
        "keepalive",
        "body_read",
        "send",
        "shutdown_grace",
        "tls_handshake",
        "lingering_time",
        "lingering_timeout",
        "certificates",
        "cert",
        "min_version",
        "session_tickets",
        "max_request_line",
        "max_header_bytes",
        "max_headers",
        "max_body_bytes",
        "max_in_flight",
        "min_limit",
        "max_limit",
        "initial_limit",
        "window",
        "window_samples",
        "long_window",
        "tolerance",
        "smoothing",
        "probe_interval",
        "probe_jitter",
        "probe_ratio",
        "address",
        "name",
        "protocol",
        "tcp_fast_open",
        "backlog",
        "defer_accept",
        "max_connections_per_client",
        "alt_svc",
        "max_connections",
        "max_idle_time",
        "idle_jitter",
        "max_streams_per_connection",
        "retry",
        "early_data",
        "server_id",
        "listeners",
        "hosts",
        "path_prefix",
        "proxy",
        "respond",
        "status",
        "body",
        "headers",
        "request_headers",
        "response_headers",
        "remove",
        "set",
        "add",
        "forwarded",
        "x_forwarded_for",
        "x_forwarded_proto",
        "via",
        "servers",
        "weight",
        "lb",
        "hash_key",
        "connect_timeout",
        "response_timeout",
        "read_timeout",
        "total_timeout",
        "attempts",
        "on",
        "buffer_body",
        "percent",
        "min_per_second",
        "max_idle_per_host",
        "max_conns_per_host",
        "idle_timeout",
        "idle_timeout_jitter",
        "kind",
        "host",
        "expect_status",
        "interval",
        "jitter",
        "timeout",
        "healthy_threshold",
        "unhealthy_threshold",
        "consecutive_failures",
        "on_5xx",
        "base_ejection_time",
        "max_ejection_time",
        "max_ejection_percent",
        "panic_threshold",
        "base",
        "factor",
        "cap",
        "resolve_interval",
        "sni",
        "ca",
        "key",
        "nameservers",
        "timeout",
        "access_log",
        "path",
        "format",
        "enabled",
        "header",
    ];
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !text.contains(&format!("{k} =")))
        .collect();
    assert!(
        missing.is_empty(),
        "not shown in shardgate.toml: {missing:?}"
    );
}
