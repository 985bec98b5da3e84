//! Every default of the configuration, in one place.
//!
//! Validation fills absent keys from here; a test checks that
//! `docs/configuration.md` and `config/shardgate.toml` show these same values,
//! so the three cannot drift apart.

// `#[derive(Default)]` + `#[default]` on the enums would scatter the defaults
// back over model.rs; keeping them here is the point of this file.
#![allow(clippy::derivable_impls)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::model::{
    AccessLogConfig, AccessLogFormat, AccessLogPath, AdaptiveConcurrencyConfig, AdminConfig,
    BackoffConfig, Driver, HealthCheckConfig, HealthCheckKind, HttpLimits, LbPolicy,
    ListenerConfig, OutlierConfig, PoolConfig, Protocol, QuicConfig, Rate, RateLimitConfig,
    RedisConfig, RequestIdConfig, ResolverConfig, RetryBudgetConfig, RetryConfig, RetryOn,
    RouteConfig, ServerConfig, ServerTimeouts, Sharing, StatusRange, Steering, TlsConfig,
    TlsVersion, UpstreamConfig, UpstreamServer,
};

const KIB: usize = 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shards: 0,
            driver: Driver::default(),
            steering: Steering::default(),
            max_connections_per_shard: 16_384,
            buffer_size: 16 * KIB,
            splice: true,
            normalize_path: true,
            merge_slashes: true,
            pid_file: None,
            timeouts: ServerTimeouts::default(),
            limits: HttpLimits::default(),
        }
    }
}

impl Default for ServerTimeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            keepalive: Duration::from_secs(60),
            body_read: Duration::from_secs(30),
            send: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            tls_handshake: Duration::from_secs(10),
            // nginx's lingering_time and lingering_timeout.
            lingering_time: Duration::from_secs(30),
            lingering_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_request_line: 8 * KIB,
            max_header_bytes: 16 * KIB,
            max_headers: 100,
            max_body_bytes: 0,
            max_in_flight: 0,
        }
    }
}

impl Default for Driver {
    fn default() -> Self {
        Self::Auto
    }
}

impl Default for Steering {
    fn default() -> Self {
        Self::Hash
    }
}

impl Default for Protocol {
    fn default() -> Self {
        Self::Http
    }
}

impl Default for LbPolicy {
    fn default() -> Self {
        Self::RoundRobin
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_per_host: 256,
            max_conns_per_host: 0,
            idle_timeout: Duration::from_secs(60),
            idle_timeout_jitter: 0.1,
            max_pending: 1024,
            pending_timeout: Duration::from_secs(2),
        }
    }
}

/// What an empty `[upstream.health_check]` section means: a TCP connect
/// every 5 s; three failures take a server out, two passes bring it back.
impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            kind: HealthCheckKind::Tcp,
            path: "/".to_string(),
            host: None,
            expect_status: StatusRange {
                low: 200,
                high: 399,
            },
            interval: Duration::from_secs(5),
            jitter: 0.1,
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        }
    }
}

/// On for every upstream (Envoy's numbers): five failures in a row eject a
/// server for 30 s, longer when it keeps failing. At most half of the servers
/// are ejected, and below half available the panic threshold spreads traffic
/// over all of them: ejections alone never reach panic.
impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            on_5xx: false,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
            panic_threshold: 50,
        }
    }
}

/// 100 ms, 160 ms, 256 ms, … up to 30 s (before jitter).
impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            factor: 1.6,
            cap: Duration::from_secs(30),
        }
    }
}

impl AdminConfig {
    /// Loopback only: the admin listener exposes metrics and the running config.
    pub const DEFAULT_ADDRESS: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9901));
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            address: Self::DEFAULT_ADDRESS,
            token_file: None,
            token: None,
        }
    }
}

impl ListenerConfig {
    /// Accept queue length passed to `listen()`.
    pub const DEFAULT_BACKLOG: u32 = 1024;
    /// TCP Fast Open is off unless asked for: it needs the sysctl set to 2 or 3.
    pub const DEFAULT_TCP_FAST_OPEN: u32 = 0;
    /// On: a connection costs the gateway nothing until its request arrives
    /// (measured: ≈16 % less CPU per new connection, see docs/performance.md).
    pub const DEFAULT_DEFER_ACCEPT: bool = true;
    /// Off, as in nginx (`limit_conn`) and HAProxy (`sc_conn_cur`): clients
    /// behind one NAT share an address, so a limit is the operator's call.
    pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: u32 = 0;

    /// A cleartext HTTP listener with every option at its default, for code
    /// that builds configs without a file (tests, benchmarks).
    pub fn with_defaults(name: &str, address: SocketAddr) -> Self {
        Self {
            name: name.to_string(),
            address,
            protocol: Protocol::default(),
            tcp_fast_open: Self::DEFAULT_TCP_FAST_OPEN,
            backlog: Self::DEFAULT_BACKLOG,
            defer_accept: Self::DEFAULT_DEFER_ACCEPT,
            max_connections_per_client: Self::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            tls: None,
            quic: None,
        }
    }
}

impl Default for QuicConfig {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_idle_time: Duration::from_secs(30),
            idle_jitter: 0.15,
            max_streams_per_connection: 100,
            retry: false,
            // HAProxy's default (`tune.quic.retry-threshold`): far above the
            // handshakes a shard has in flight in normal operation (each
            // takes about one round trip), far below its connection table.
            retry_threshold: 100,
            early_data: false,
            server_id: Vec::new(),
        }
    }
}

impl TlsConfig {
    /// TLS 1.2 is still needed by old clients; 1.0/1.1 are not offered at all.
    pub const DEFAULT_MIN_VERSION: TlsVersion = TlsVersion::Tls12;
    pub const DEFAULT_SESSION_TICKETS: bool = true;
}

impl RouteConfig {
    /// Matches every path.
    pub const DEFAULT_PATH_PREFIX: &'static str = "/";
    /// Every route is logged once `[access_log]` exists; turn off the noisy ones.
    pub const DEFAULT_ACCESS_LOG: bool = true;

    /// The name of an unnamed route: its position among the `[[route]]` tables.
    pub fn default_name(index: usize) -> String {
        format!("route[{index}]")
    }
}

impl RateLimitConfig {
    /// RFC 6585 §4: Too Many Requests.
    pub const DEFAULT_STATUS: u16 = 429;
    /// One bucket per key for the whole process: exact whichever shard a
    /// request lands on, for ≈ nothing in CPU (measured in ADR 14).
    pub const DEFAULT_SHARING: Sharing = Sharing::Atomic;
    /// 64 Ki buckets: 512 KiB per rule.
    pub const DEFAULT_TABLE_SIZE: usize = 65_536;
    /// 16 Mi buckets (128 MiB): a bound against typos.
    pub const MAX_TABLE_SIZE: usize = 1 << 24;
    pub const MAX_BURST: u32 = 1_000_000;
    /// `burst / rate` at most: the GCRA clock covers 52 days, a day is plenty.
    pub const MAX_BURST_TIME: Duration = Duration::from_secs(24 * 3600);
    /// 1 µs: at most 1,000,000 requests per second per rule.
    pub const MIN_INTERVAL_NS: u64 = 1_000;
    /// Rules per route (each is checked on every request).
    pub const MAX_RULES: usize = 8;
    /// A limited request's body is written into the connection's buffer.
    pub const MAX_BODY: usize = 1024;
    /// Stands in for a rate that failed validation (the config is refused).
    pub const PLACEHOLDER_RATE: Rate = Rate {
        count: 1,
        per: Duration::from_secs(1),
    };
}

impl RedisConfig {
    pub const DEFAULT_KEY_PREFIX: &'static str = "shardgate:rl:";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
    pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(100);
}

impl AccessLogPath {
    /// The word `path` takes for standard output.
    pub const STDOUT: &'static str = "stdout";
}

impl Default for AccessLogPath {
    fn default() -> Self {
        Self::Stdout
    }
}

impl Default for AccessLogFormat {
    fn default() -> Self {
        Self::Json
    }
}

/// What an empty `[access_log]` section means.
impl Default for AccessLogConfig {
    fn default() -> Self {
        Self {
            path: AccessLogPath::default(),
            format: AccessLogFormat::default(),
        }
    }
}

impl Default for RequestIdConfig {
    /// On: an id costs a few bytes per request and is what makes a request
    /// traceable across the gateway's and the upstream's logs.
    fn default() -> Self {
        Self {
            enabled: true,
            header: "x-request-id".to_string(),
        }
    }
}

impl UpstreamConfig {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_TCP_FAST_OPEN: bool = false;
    pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
}

impl UpstreamServer {
    pub const DEFAULT_WEIGHT: u32 = 1;
}

impl RetryConfig {
    /// A bound on what one client request may cost the origins.
    pub const MAX_ATTEMPTS: u8 = 10;
    /// A kept body lives in one of the shard's 64 KiB streaming buffers.
    pub const MAX_BUFFER_BODY: usize = 64 * KIB;
}

/// Without `[route.retry]`: the first try and up to two more, after a
/// connect failure (each to a server not tried yet) or the keep-alive race
/// (ADR 4); bodies are not kept, so a request whose body went upstream is
/// never sent again.
impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            on: RetryOn::default(),
            buffer_body: 0,
        }
    }
}

impl Default for RetryOn {
    fn default() -> Self {
        Self {
            connect_failure: true,
            ..Self::NONE
        }
    }
}

/// Envoy's retry budget: retries within 20 % of the active requests, and
/// always a few per second so a quiet upstream still gets its retries.
impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            percent: 20,
            min_per_second: 10,
        }
    }
}

/// Netflix's Gradient2 defaults where it has them (tolerance 1.5, smoothing
/// 0.2, limits 20 in 1..=1000 with a floor of 3 as Envoy's
/// `min_concurrency`), Envoy's for the probe (every 60 s, ±15 %); a 100 ms
/// window of at least 10 samples (Envoy's update interval); a baseline
/// smoothed over 20 windows; probes at half the limit, below the
/// `1 / tolerance` share at which the limit settles (see flow-control.md).
impl Default for AdaptiveConcurrencyConfig {
    fn default() -> Self {
        Self {
            min_limit: 3,
            max_limit: 1000,
            initial_limit: 20,
            window: Duration::from_millis(100),
            window_samples: 10,
            long_window: 20,
            tolerance: 1.5,
            smoothing: 0.2,
            probe_interval: Duration::from_secs(60),
            probe_jitter: 0.15,
            probe_ratio: 0.5,
            status: 503,
        }
    }
}

impl Default for ResolverConfig {
    /// The system's resolver, as every other program on the host uses.
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(2),
        }
    }
}

#[cfg(test)]
mod tests;
