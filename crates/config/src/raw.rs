//! The file schema: what serde reads, before any checking.
//!
//! Every key is optional here (required keys are reported by validation, with a
//! position, alongside all other problems) and every value validation needs to
//! point at is `Spanned`. `deny_unknown_fields` everywhere: a misspelt key
//! silently falling back to its default is the worst kind of config bug.

mod discovery;
mod flow;
mod health;
mod rate_limit;
mod retry;
mod upstream_tls;
mod values;

pub(crate) use discovery::RawResolver;
pub(crate) use flow::RawAdaptiveConcurrency;
pub(crate) use upstream_tls::RawUpstreamTls;

use serde::Deserialize;
use serde_spanned::Spanned;

pub(crate) use health::{RawBackoff, RawHealthCheck, RawOutlier};
pub(crate) use rate_limit::{RawRateLimit, RawRedis};
pub(crate) use retry::{RawRetry, RawRetryBudget, RawRouteTimeouts};
pub(crate) use values::{
    DurationValue, Float, HeaderMap, Int, List, Scalar, ServerEntry, SizeValue,
};

/// One array of tables (`[[listener]]` …). Elements that failed to deserialize
/// are left out but keep their neighbours' indices, so `route[2]` is always
/// the third `[[route]]` of the file.
#[derive(Debug)]
pub(crate) struct Section<T> {
    pub items: Vec<(usize, Spanned<T>)>,
    /// False when an element was unreadable: references to names it might have
    /// defined are then not reported as unknown (that would be a cascade).
    pub complete: bool,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            complete: true,
        }
    }
}

/// The whole document, split by top-level key.
#[derive(Debug, Default)]
pub(crate) struct RawDocument {
    pub server: Option<Spanned<RawServer>>,
    pub admin: Option<Spanned<RawAdmin>>,
    /// Offset of the `listener` key, if present (to place "none defined").
    pub listener_key: Option<usize>,
    pub listeners: Section<RawListener>,
    pub routes: Section<RawRoute>,
    pub upstreams: Section<RawUpstream>,
    pub access_log: Option<Spanned<RawAccessLog>>,
    pub request_id: Option<Spanned<RawRequestId>>,
    pub resolver: Option<Spanned<RawResolver>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawServer {
    pub shards: Option<Spanned<Int>>,
    pub driver: Option<Spanned<String>>,
    pub steering: Option<Spanned<String>>,
    pub max_connections_per_shard: Option<Spanned<Int>>,
    pub buffer_size: Option<Spanned<SizeValue>>,
    pub splice: Option<Spanned<bool>>,
    pub normalize_path: Option<Spanned<bool>>,
    pub merge_slashes: Option<Spanned<bool>>,
    pub pid_file: Option<Spanned<String>>,
    pub timeouts: Option<Spanned<RawTimeouts>>,
    pub limits: Option<Spanned<RawLimits>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawTimeouts {
    pub header_read: Option<Spanned<DurationValue>>,
    pub keepalive: Option<Spanned<DurationValue>>,
    pub body_read: Option<Spanned<DurationValue>>,
    pub send: Option<Spanned<DurationValue>>,
    pub shutdown_grace: Option<Spanned<DurationValue>>,
    pub tls_handshake: Option<Spanned<DurationValue>>,
    pub lingering_time: Option<Spanned<DurationValue>>,
    pub lingering_timeout: Option<Spanned<DurationValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawLimits {
    pub max_request_line: Option<Spanned<SizeValue>>,
    pub max_header_bytes: Option<Spanned<SizeValue>>,
    pub max_headers: Option<Spanned<Int>>,
    pub max_body_bytes: Option<Spanned<SizeValue>>,
    pub max_in_flight: Option<Spanned<Int>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawAdmin {
    pub address: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawAccessLog {
    pub path: Option<Spanned<String>>,
    pub format: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRequestId {
    pub enabled: Option<bool>,
    pub header: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawListener {
    pub name: Option<Spanned<String>>,
    pub address: Option<Spanned<String>>,
    pub protocol: Option<Spanned<String>>,
    pub tcp_fast_open: Option<Spanned<Int>>,
    pub backlog: Option<Spanned<Int>>,
    // Spanned so that an `h3` listener can point at it (a TCP-only option).
    pub defer_accept: Option<Spanned<bool>>,
    pub max_connections_per_client: Option<Spanned<Int>>,
    pub tls: Option<Spanned<RawTls>>,
    pub quic: Option<Spanned<RawQuic>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawQuic {
    pub max_connections: Option<Spanned<Int>>,
    pub max_idle_time: Option<Spanned<DurationValue>>,
    pub idle_jitter: Option<Spanned<Float>>,
    pub max_streams_per_connection: Option<Spanned<Int>>,
    pub retry: Option<bool>,
    pub retry_threshold: Option<Spanned<Int>>,
    pub early_data: Option<bool>,
    pub server_id: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawTls {
    pub certificates: Option<Spanned<List<RawCertificate>>>,
    pub min_version: Option<Spanned<String>>,
    pub session_tickets: Option<bool>,
    pub alt_svc: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `cert` and `key`")]
pub(crate) struct RawCertificate {
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRoute {
    pub name: Option<Spanned<String>>,
    pub listeners: Option<Spanned<List<String>>>,
    pub hosts: Option<Spanned<List<String>>>,
    pub path_prefix: Option<Spanned<String>>,
    pub proxy: Option<Spanned<String>>,
    pub respond: Option<Spanned<RawRespond>>,
    pub request_headers: Option<Spanned<RawHeaderRewrite>>,
    pub response_headers: Option<Spanned<RawHeaderRewrite>>,
    pub forwarded: Option<Spanned<RawForwarded>>,
    pub access_log: Option<bool>,
    pub retry: Option<Spanned<RawRetry>>,
    pub timeouts: Option<Spanned<RawRouteTimeouts>>,
    pub rate_limit: Option<Spanned<List<RawRateLimit>>>,
    pub max_in_flight: Option<Spanned<Int>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawRespond {
    pub status: Option<Spanned<Int>>,
    pub body: Option<Spanned<String>>,
    pub headers: Option<Spanned<HeaderMap>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawHeaderRewrite {
    pub remove: Option<Spanned<List<String>>>,
    pub set: Option<Spanned<HeaderMap>>,
    pub add: Option<Spanned<HeaderMap>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawForwarded {
    pub x_forwarded_for: Option<bool>,
    pub x_forwarded_proto: Option<bool>,
    pub forwarded: Option<bool>,
    pub via: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawUpstream {
    pub name: Option<Spanned<String>>,
    pub servers: Option<Spanned<List<ServerEntry>>>,
    pub lb: Option<Spanned<String>>,
    pub hash_key: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<DurationValue>>,
    pub response_timeout: Option<Spanned<DurationValue>>,
    pub read_timeout: Option<Spanned<DurationValue>>,
    pub total_timeout: Option<Spanned<DurationValue>>,
    pub tcp_fast_open: Option<bool>,
    pub pool: Option<Spanned<RawPool>>,
    pub health_check: Option<Spanned<RawHealthCheck>>,
    pub outlier: Option<Spanned<RawOutlier>>,
    pub backoff: Option<Spanned<RawBackoff>>,
    pub retry_budget: Option<Spanned<RawRetryBudget>>,
    pub tls: Option<Spanned<RawUpstreamTls>>,
    pub resolve_interval: Option<Spanned<DurationValue>>,
    pub adaptive_concurrency: Option<Spanned<RawAdaptiveConcurrency>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawPool {
    pub max_idle_per_host: Option<Spanned<Int>>,
    pub max_conns_per_host: Option<Spanned<Int>>,
    pub idle_timeout: Option<Spanned<DurationValue>>,
    pub idle_timeout_jitter: Option<Spanned<Float>>,
    pub max_pending: Option<Spanned<Int>>,
    pub pending_timeout: Option<Spanned<DurationValue>>,
}
