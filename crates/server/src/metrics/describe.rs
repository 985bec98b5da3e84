//! `# HELP` text for every metric family the server emits. A new family gets
//! its line here and its registration in the test below, which fails for any
//! registered family without one.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Describes every family to the current recorder; `recorder::install` calls
/// it once, before any shard registers a handle.
pub fn describe_all() {
    describe_counter!(
        "shardgate_connections_accepted_total",
        Unit::Count,
        "Downstream connections accepted, by shard"
    );
    describe_gauge!(
        "shardgate_connections_active",
        Unit::Count,
        "Downstream connections open now, by shard"
    );
    describe_counter!(
        "shardgate_connection_table_full_total",
        Unit::Count,
        "Connections closed at accept because the shard's connection table was full"
    );
    describe_counter!(
        "shardgate_client_limit_refused_total",
        Unit::Count,
        "Connections refused because their client (an IPv4 address or an IPv6 /64) already held the listener's max_connections_per_client: TCP closed at accept, QUIC refused with CONNECTION_REFUSED"
    );
    describe_counter!(
        "shardgate_spliced_bytes_total",
        Unit::Bytes,
        "Body bytes moved between plain sockets through a pipe (splice), never copied into the gateway: responses upstream to client, request bodies client to upstream; the rest of the body bytes are copied through a buffer"
    );
    describe_counter!(
        "shardgate_client_errors_total",
        Unit::Count,
        "Malformed or over-limit requests answered with a 4xx/5xx before routing"
    );
    describe_counter!(
        "shardgate_tls_handshakes_total",
        Unit::Count,
        "TLS handshakes completed"
    );
    describe_counter!(
        "shardgate_tls_handshake_failures_total",
        Unit::Count,
        "TLS handshakes that failed, timed out or were cut short by the client"
    );
    describe_histogram!(
        "shardgate_connection_duration_seconds",
        Unit::Seconds,
        "Downstream connection lifetime, accept to close"
    );
    // Per route (`route="(none)"`: requests no route took).
    describe_counter!(
        "shardgate_requests_total",
        Unit::Count,
        "Requests answered, by shard, route and status class (1xx..5xx; 499 counts as 4xx)"
    );
    describe_counter!(
        "shardgate_requests_shed_total",
        Unit::Count,
        "Requests a flow-control limit turned away, by shard, route and reason (shard_in_flight, route_in_flight, rate_limited, adaptive_concurrency)"
    );
    describe_counter!(
        "shardgate_rate_limit_evictions_total",
        Unit::Count,
        "Rate-limit buckets evicted because a rule's table was full (more active keys than table_size), by route; an evicted key starts again with a full bucket"
    );
    describe_counter!(
        super::redis_sync::ERRORS,
        Unit::Count,
        "Syncs of a redis-backed rate limit with Redis that failed (connect, timeout, error reply), by route; the local limit kept applying"
    );
    describe_gauge!(
        super::redis_sync::FALLBACK,
        Unit::Count,
        "1 while a redis-backed rate limit runs on its local limit alone because Redis is unreachable, by route"
    );
    describe_counter!(
        super::redis_sync::SYNCS,
        Unit::Count,
        "Completed syncs of a redis-backed rate limit with Redis, by route"
    );
    describe_counter!(
        super::redis_sync::CHARGED,
        Unit::Count,
        "Requests other gateways admitted under a redis-backed rate limit, charged to this gateway's buckets, by route"
    );
    describe_histogram!(
        "shardgate_request_duration_seconds",
        Unit::Seconds,
        "Request latency by route, first request byte in to last response byte out"
    );
    describe_counter!(
        "shardgate_request_bytes_total",
        Unit::Bytes,
        "Request bytes received from clients (head and body), by route"
    );
    describe_counter!(
        "shardgate_response_bytes_total",
        Unit::Bytes,
        "Response bytes sent to clients (head and body), by route"
    );
    // Per upstream.
    describe_counter!(
        "shardgate_upstream_requests_total",
        Unit::Count,
        "Attempts sent to an upstream server (a retried request counts twice)"
    );
    describe_counter!(
        "shardgate_upstream_failures_total",
        Unit::Count,
        "Attempts that failed on the upstream side: a connect that failed (never sent, so not in upstream_requests_total) or a sent attempt that met a reset, timeout or malformed response"
    );
    describe_counter!(
        "shardgate_upstream_connects_total",
        Unit::Count,
        "New connections opened to upstream servers"
    );
    describe_counter!(
        "shardgate_upstream_connect_errors_total",
        Unit::Count,
        "Upstream connects that failed or timed out"
    );
    describe_counter!(
        "shardgate_upstream_reused_total",
        Unit::Count,
        "Requests sent on a pooled (kept-alive) upstream connection"
    );
    describe_counter!(
        "shardgate_upstream_retries_total",
        Unit::Count,
        "Attempts sent again, by reason: connect-failure, keepalive-race (a reused connection died before answering), reset, or the origin's 502/503/504"
    );
    describe_counter!(
        "shardgate_upstream_retries_budget_exhausted_total",
        Unit::Count,
        "Retries not sent because the upstream's retry budget (per shard) was used up; the request kept the failure or response it had"
    );
    describe_histogram!(
        "shardgate_upstream_connect_duration_seconds",
        Unit::Seconds,
        "Time to open a new upstream connection"
    );
    describe_counter!(
        super::control::DNS_RESOLUTIONS,
        Unit::Count,
        "Resolutions of a host name in `servers` (start-up, reload and periodic), by host"
    );
    describe_counter!(
        super::control::DNS_FAILURES,
        Unit::Count,
        "Resolutions that failed (timeout, SERVFAIL, NXDOMAIN, no addresses); the last good addresses stayed in use"
    );
    describe_counter!(
        super::control::DNS_CHANGES,
        Unit::Count,
        "Resolutions that changed a host name's addresses (each publishes a config generation)"
    );
    describe_counter!(
        "shardgate_upstream_tls_handshakes_total",
        Unit::Count,
        "TLS handshakes completed with upstream servers ([upstream.tls])"
    );
    describe_counter!(
        "shardgate_upstream_tls_resumed_total",
        Unit::Count,
        "Upstream TLS handshakes that resumed an earlier session (no certificate exchange)"
    );
    describe_counter!(
        "shardgate_upstream_tls_errors_total",
        Unit::Count,
        "Upstream TLS failures: handshakes refused by either side (a certificate error is one) and fatal alerts on established connections; each request that met one got 502"
    );
    describe_gauge!(
        "shardgate_shard_in_flight",
        Unit::Count,
        "Requests the shard is serving now ([server.limits] max_in_flight), by shard"
    );
    describe_gauge!(
        "shardgate_route_in_flight",
        Unit::Count,
        "Requests of the route being served now, by shard and route (the route's max_in_flight caps their sum)"
    );
    describe_gauge!(
        "shardgate_upstream_concurrency_limit",
        Unit::Count,
        "The adaptive concurrency limit of the upstream, by upstream and shard"
    );
    describe_gauge!(
        "shardgate_upstream_in_flight",
        Unit::Count,
        "Requests in flight to the upstream under its adaptive concurrency limit, by upstream and shard"
    );
    describe_gauge!(
        "shardgate_upstream_pending_requests",
        Unit::Count,
        "Requests waiting for an upstream connection because the server is at max_conns_per_host"
    );
    describe_counter!(
        "shardgate_upstream_pending_timeouts_total",
        Unit::Count,
        "Requests that waited pending_timeout for an upstream connection and got 503"
    );
    describe_counter!(
        "shardgate_upstream_pending_rejected_total",
        Unit::Count,
        "Requests that got 503 at once because max_pending requests already waited"
    );
    // Per server, summed over shards (reported once a second).
    describe_gauge!(
        "shardgate_upstream_pool_connections",
        Unit::Count,
        "Upstream connections per server over all shards, by state (idle = pooled; busy = a request holds it; draining = will close when its request ends)"
    );
    describe_counter!(
        "shardgate_upstream_pool_reused_total",
        Unit::Count,
        "Requests per server, over all shards, sent on a pooled connection (reuse ratio = reused / (reused + opened))"
    );
    describe_counter!(
        "shardgate_upstream_pool_opened_total",
        Unit::Count,
        "Connections opened (or attempted) per server over all shards"
    );
    describe_counter!(
        "shardgate_upstream_panic_picks_total",
        Unit::Count,
        "Servers picked while their upstream was in panic (too few healthy servers: health ignored)"
    );
    // Upstream health, process-wide (no shard label).
    describe_counter!(
        super::health::TRANSITIONS,
        Unit::Count,
        "Health changes of an upstream server: kind=active (to=down|up: the active check crossed a threshold) or kind=outlier (to=ejected|returned)"
    );
    describe_gauge!(
        super::health::ACTIVE_HEALTHY,
        "1 while the server's active health check passes (or it has none), 0 while it fails"
    );
    describe_gauge!(
        super::health::EJECTED,
        "1 while outlier detection has the server ejected"
    );
    describe_counter!(
        super::health::PROBES,
        Unit::Count,
        "Active health probes sent, by result (ok, failed)"
    );
    describe_gauge!(
        super::health::PANIC,
        "1 while the upstream is in panic: fewer than panic_threshold percent of its servers healthy, every server takes traffic"
    );
    describe_counter!(
        super::health::PANIC_TRANSITIONS,
        Unit::Count,
        "Times the upstream entered or left panic (to=entered|left)"
    );
    // HTTP/3 and QUIC.
    describe_gauge!(
        super::quic::CONNECTIONS,
        Unit::Count,
        "QUIC connection-table slots by listener, shard and state (idle = free; busy = handshaking or serving; draining = GOAWAY sent; closed = being freed)"
    );
    describe_counter!(
        "shardgate_quic_handshakes_total",
        Unit::Count,
        "QUIC handshakes completed"
    );
    describe_counter!(
        "shardgate_quic_handshake_failures_total",
        Unit::Count,
        "QUIC handshakes that failed or timed out"
    );
    describe_counter!(
        "shardgate_quic_refused_total",
        Unit::Count,
        "New QUIC connections refused (CONNECTION_REFUSED) because the shard's connection table was full"
    );
    describe_counter!(
        "shardgate_quic_retries_total",
        Unit::Count,
        "Stateless retries sent to validate client addresses"
    );
    describe_counter!(
        "shardgate_quic_streams_total",
        Unit::Count,
        "HTTP/3 request streams accepted"
    );
    describe_counter!(
        "shardgate_quic_stream_errors_total",
        Unit::Count,
        "HTTP/3 request streams ended with an error: malformed (H3_MESSAGE_ERROR) or a head not complete within header_read"
    );
    describe_counter!(
        "shardgate_quic_bytes_received_total",
        Unit::Bytes,
        "UDP payload bytes received on closed QUIC connections"
    );
    describe_counter!(
        "shardgate_quic_bytes_sent_total",
        Unit::Bytes,
        "UDP payload bytes sent on closed QUIC connections"
    );
    describe_counter!(
        "shardgate_quic_packets_redirected_total",
        Unit::Count,
        "Datagrams that reached a shard other than the one owning their connection ID and were handed over"
    );
    describe_counter!(
        "shardgate_quic_redirect_dropped_total",
        Unit::Count,
        "Mis-steered datagrams dropped because the owning shard's inbox was full"
    );
    describe_counter!(
        super::quic::CLOSED,
        Unit::Count,
        "Established HTTP/3 connections that ended, by reason: clean (H3_NO_ERROR, GOAWAY, drain), idle_timeout, protocol_error (the gateway closed it: the client broke HTTP/3), peer_error (the client closed with an error code), transport_error (QUIC-level)"
    );
    // Access log.
    describe_counter!(
        "shardgate_access_log_dropped_total",
        Unit::Count,
        "Access log lines dropped because the shard's buffers were full (the writer fell behind) or a line was too long"
    );
    describe_counter!(
        "shardgate_access_log_write_errors_total",
        Unit::Count,
        "Failed writes (or reopens) of the access log output"
    );
    describe_counter!(
        super::control::ADMIN_REJECTED,
        Unit::Count,
        "Admin connections closed at once because the concurrent admin connection cap was reached"
    );
    describe_counter!(
        super::control::ADMIN_UNAUTHORIZED,
        Unit::Count,
        "Admin requests refused with 401 (no or wrong bearer token, with [admin] token_file set)"
    );
    describe_counter!(
        super::control::RELOADS,
        Unit::Count,
        "Config reloads that took effect"
    );
    describe_counter!(
        super::control::RELOAD_FAILURES,
        Unit::Count,
        "Config reloads refused (unreadable or invalid file, or a change that needs a restart); the running config stayed"
    );
    describe_gauge!(
        super::control::GENERATION,
        "The config generation being served: 1 at start, +1 per successful reload"
    );
    describe_counter!(
        super::upgrade::STARTED,
        Unit::Count,
        "Binary upgrades this process started (SIGUSR2 or `shardgate upgrade`)"
    );
    describe_counter!(
        super::upgrade::SUCCEEDED,
        Unit::Count,
        "Binary upgrades whose new process reported ready; this process then retires"
    );
    describe_counter!(
        super::upgrade::FAILED,
        Unit::Count,
        "Binary upgrades refused or failed (new process's config errors, timeout, exit, an upgrade already draining); this process kept serving"
    );
    describe_counter!(
        super::upgrade::FORWARDED,
        Unit::Count,
        "QUIC datagrams of the previous process's connections (its CID generation) forwarded to it while it drains"
    );
    describe_counter!(
        super::upgrade::FORWARD_DROPPED,
        Unit::Count,
        "Forwarded QUIC datagrams dropped: the forwarding socket's buffer or the old shard's inbox was full, or the frame was malformed"
    );
}
