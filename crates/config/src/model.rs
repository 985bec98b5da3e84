//! The validated configuration: what every other crate reads.
//!
//! These types are the *output* of parsing and validation. They hold no spans and
//! no raw strings that still need checking: a `Config` that exists is one the
//! gateway can run. Defaults live here so that the reference config, the docs and
//! the code cannot drift apart (a test renders the defaults into the docs table).

mod health;

pub use health::{BackoffConfig, HealthCheckConfig, HealthCheckKind, OutlierConfig, StatusRange};
mod retry;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

mod balance;
mod discovery;
mod flow;
mod rate_limit;
mod secret;
mod upstream;
mod upstream_tls;

pub use balance::HashKey;
pub use discovery::{NamedServer, ResolverConfig};
pub use flow::AdaptiveConcurrencyConfig;
pub use rate_limit::{Rate, RateLimitBackend, RateLimitConfig, RateLimitKey, RedisConfig, Sharing};
pub use retry::{RetryBudgetConfig, RetryConfig, RetryOn, TimeoutOverrides};
pub use secret::Secret;
pub use upstream::{LbPolicy, PoolConfig, UpstreamConfig, UpstreamServer};
pub use upstream_tls::{ClientCert, TrustRoots, UpstreamTls};

/// The whole gateway configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub server: ServerConfig,
    pub admin: Option<AdminConfig>,
    pub listeners: Vec<ListenerConfig>,
    pub routes: Vec<RouteConfig>,
    pub upstreams: Vec<UpstreamConfig>,
    /// `[access_log]`; `None` (section absent) = no access log.
    pub access_log: Option<AccessLogConfig>,
    pub request_id: RequestIdConfig,
    /// `[resolver]`: how host names in `servers` are resolved.
    pub resolver: ResolverConfig,
}

/// `[server]`: process-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerConfig {
    /// Number of shards; 0 means one per online core.
    pub shards: usize,
    pub driver: Driver,
    pub steering: Steering,
    /// Slots in each shard's connection table (downstream connections).
    pub max_connections_per_shard: usize,
    /// Size of the buffer a connection borrows while it is active (reading a
    /// head, streaming a body). Also the upper bound for a request or response head.
    pub buffer_size: usize,
    /// Move body runs of 16 KiB and more between plain sockets through a
    /// pipe (`splice(2)`, ADR 22) instead of copying them through the
    /// buffer. On by default; off is for diagnosis (a kernel whose splice
    /// misbehaves). Applies per request, so a reload switches it.
    pub splice: bool,
    /// Normalize a request's path before routing and forward it normalized
    /// (RFC 3986 §6.2.2: unreserved escapes decoded, dot segments removed),
    /// so a `path_prefix` cannot be walked around with `/x/../admin` or
    /// `/%61dmin`. On by default (ADR 25).
    pub normalize_path: bool,
    /// With `normalize_path`, runs of `/` become one (`//admin` →
    /// `/admin`), as nginx does by default. Off for origins whose paths
    /// give `//` a meaning of its own.
    pub merge_slashes: bool,
    /// Where the process writes its PID (`shardgate upgrade` finds it there;
    /// a binary upgrade's outcome goes next to it, ADR 19). Resolved against
    /// the config file's directory.
    pub pid_file: Option<std::path::PathBuf>,
    pub timeouts: ServerTimeouts,
    pub limits: HttpLimits,
}

/// `[server.timeouts]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerTimeouts {
    /// From the first byte of a request head to its end (slowloris guard) → 408.
    pub header_read: Duration,
    /// How long an idle keep-alive client connection is kept.
    pub keepalive: Duration,
    /// Longest gap between two reads of a request body → 408.
    pub body_read: Duration,
    /// Longest time a write to the client may make no progress.
    pub send: Duration,
    /// How long a graceful stop waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// From accept to the end of the TLS handshake.
    pub tls_handshake: Duration,
    /// Lingering close: how long, in all, a connection closed while its
    /// client may still be sending reads and drops what comes.
    pub lingering_time: Duration,
    /// Lingering close: the longest gap between two reads before it ends.
    pub lingering_timeout: Duration,
}

/// `[server.limits]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpLimits {
    /// Longest request line (method, target, version) → 414.
    pub max_request_line: usize,
    /// Largest request head, request line included → 431.
    pub max_header_bytes: usize,
    /// Most header fields in one head → 431.
    pub max_headers: usize,
    /// Largest request body accepted; 0 = unlimited → 413.
    pub max_body_bytes: u64,
    /// Requests a shard serves at once; one more gets 503 at once; 0 = no
    /// cap.
    pub max_in_flight: u32,
}

/// Which monoio driver a shard runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// io_uring when the kernel (and seccomp) allow it, else epoll.
    Auto,
    IoUring,
    Epoll,
}

/// How the `SO_REUSEPORT` group picks a shard for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Steering {
    /// The CPU that handled the SYN (follows NIC RSS).
    Cpu,
    /// The kernel's receive hash modulo the shard count.
    Hash,
    /// No program: the kernel's own reuseport hash.
    None,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminConfig {
    pub address: SocketAddr,
    /// `token_file`, resolved against the config file's directory.
    pub token_file: Option<std::path::PathBuf>,
    /// The bearer token read from `token_file` (trimmed, never empty):
    /// every admin endpoint but `/healthz` and `/ready` requires it.
    pub token: Option<Secret>,
}

/// `[access_log]`: one line per request, written by a writer thread so that
/// shards never wait on the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessLogConfig {
    pub path: AccessLogPath,
    pub format: AccessLogFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogPath {
    Stdout,
    /// Opened for appending, created if missing; relative paths in the file are
    /// resolved against the config file's directory.
    File(std::path::PathBuf),
}

/// As written in the file (`"stdout"` or the path).
impl Serialize for AccessLogPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for AccessLogPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stdout => f.write_str(Self::STDOUT),
            Self::File(path) => path.display().fmt(f),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// Apache/nginx "combined".
    Combined,
}

/// `[request_id]`: the id that ties a request's log line to the upstream's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestIdConfig {
    /// Take the client's id if present and sane, else generate one; pass it
    /// upstream and log it.
    pub enabled: bool,
    /// Header field name, lower-case, a valid RFC 9110 token.
    pub header: String,
}

/// `[[listener]]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListenerConfig {
    pub name: String,
    pub address: SocketAddr,
    pub protocol: Protocol,
    /// TCP Fast Open queue length; 0 disables TFO on this listener.
    pub tcp_fast_open: u32,
    pub backlog: u32,
    /// `TCP_DEFER_ACCEPT`: the kernel hands a connection over only once its
    /// first bytes arrived (HTTP and TLS clients speak first).
    pub defer_accept: bool,
    /// Connections one client (an IPv4 address, or an IPv6 /64) may hold
    /// on this listener at once, over all shards; 0: no limit.
    pub max_connections_per_client: u32,
    /// `[listener.tls]`: terminate TLS on this listener (required for `h3`).
    pub tls: Option<TlsConfig>,
    /// `[listener.quic]`: present exactly when `protocol = "h3"`.
    pub quic: Option<QuicConfig>,
}

/// `[listener.quic]`: the QUIC transport of an `h3` listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuicConfig {
    /// Slots in each shard's QUIC connection table (fixed size, allocated at
    /// start); a new connection beyond it is refused.
    pub max_connections: usize,
    /// A connection with no packets for this long is closed (± `idle_jitter`).
    pub max_idle_time: Duration,
    /// Share (0.0–0.5) by which each connection's idle time is spread, so idle
    /// connections do not expire in one burst.
    pub idle_jitter: f64,
    /// Concurrent bidirectional (request) streams a client may open.
    pub max_streams_per_connection: u32,
    /// Stateless retry (address validation) for every new connection.
    pub retry: bool,
    /// With `retry` off: once this many of a shard's connections on the
    /// listener are still in their handshake, new ones get a stateless retry
    /// first (a flood of Initials from spoofed addresses would otherwise hold
    /// slots and handshakes); 0 never does.
    pub retry_threshold: usize,
    /// Accept 0-RTT; requests other than safe methods in early data get 425.
    pub early_data: bool,
    /// Server id carried in every connection ID (QUIC-LB style), 0–6 bytes.
    pub server_id: Vec<u8>,
}

/// `[listener.tls]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsConfig {
    /// In file order. A client's SNI name picks the certificate that covers
    /// it; the first certificate answers clients without SNI or with a name
    /// no certificate covers.
    pub certificates: Vec<TlsCertificate>,
    pub min_version: TlsVersion,
    /// Stateless resumption (TLS 1.3 tickets, RFC 5077 tickets for 1.2).
    pub session_tickets: bool,
    /// Name of an `h3` listener to advertise with `Alt-Svc` on responses of
    /// this (TLS-over-TCP) listener.
    pub alt_svc: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// A certificate chain and its private key, loaded and checked against each
/// other while the config is validated: a reload with a broken file is refused
/// before any shard sees it.
#[derive(Clone, Serialize)]
pub struct TlsCertificate {
    pub cert_path: std::path::PathBuf,
    pub key_path: std::path::PathBuf,
    /// DNS names of the certificate's subjectAltName, lower-case (wildcards as
    /// `*.example.com`).
    pub names: Vec<String>,
    /// Key material: never rendered (`/config` shows the paths only).
    #[serde(skip)]
    pub key: std::sync::Arc<rustls::sign::CertifiedKey>,
}

impl PartialEq for TlsCertificate {
    /// Same files with the same certificate chain: a rotated certificate (or
    /// key, which must match it) compares unequal.
    fn eq(&self, other: &Self) -> bool {
        self.cert_path == other.cert_path
            && self.key_path == other.key_path
            && self.key.cert == other.key.cert
    }
}

impl std::fmt::Debug for TlsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCertificate")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/1.1 over TCP (cleartext, or TLS with `[listener.tls]`).
    Http,
    /// HTTP/3 over QUIC (UDP); needs `[listener.tls]`.
    H3,
}

/// `[[route]]`. Routes are matched most-specific first (see `shardgate-proxy`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteConfig {
    /// For logs and metrics; defaults to `route[N]`.
    pub name: String,
    /// Listener names this route applies to; empty = all listeners.
    pub listeners: Vec<String>,
    /// Host patterns: exact (`example.com`) or wildcard (`*.example.com`), lower-case,
    /// without port. Empty = any host.
    pub hosts: Vec<String>,
    /// Raw byte prefix of the request path; always starts with `/`.
    pub path_prefix: String,
    pub action: RouteAction,
    pub request_headers: HeaderRewrite,
    pub response_headers: HeaderRewrite,
    pub forwarded: ForwardedHeaders,
    /// Write an access-log line for requests of this route (when `[access_log]`
    /// is configured).
    pub access_log: bool,
    /// `[route.retry]`.
    pub retry: RetryConfig,
    /// `[route.timeouts]`.
    pub timeouts: TimeoutOverrides,
    /// `[[route.rate_limit]]`, in file order; every rule must pass.
    pub rate_limits: Vec<RateLimitConfig>,
    /// Requests of this route served at once, over all shards; one more gets
    /// 503 at once; 0 = no cap.
    pub max_in_flight: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAction {
    /// Forward to the named upstream (validated to exist).
    Proxy { upstream: String },
    /// Answer directly, like nginx's `return`.
    Respond(StaticResponse),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaticResponse {
    pub status: u16,
    /// In file order, names as written; never framing or connection headers
    /// (the server writes those).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Header edits applied in the order remove → set → add.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct HeaderRewrite {
    /// Names (lower-case) removed.
    pub remove: Vec<String>,
    /// Replace any existing field of that name. Names keep the case written in
    /// the file (that is what goes on the wire): compare them case-insensitively.
    pub set: Vec<(String, String)>,
    /// Append a field even when one exists. Names as in `set`.
    pub add: Vec<(String, String)>,
}

/// Which forwarding headers the proxy adds to requests it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ForwardedHeaders {
    /// Append the client address to `X-Forwarded-For`.
    pub x_forwarded_for: bool,
    /// Set `X-Forwarded-Proto` to the listener's scheme.
    pub x_forwarded_proto: bool,
    /// Append an RFC 7239 `Forwarded` element.
    pub forwarded: bool,
    /// Append `1.1 shardgate` to `Via` (requests and responses).
    pub via: bool,
}

impl Default for ForwardedHeaders {
    fn default() -> Self {
        Self {
            x_forwarded_for: true,
            x_forwarded_proto: true,
            forwarded: false,
            via: false,
        }
    }
}
