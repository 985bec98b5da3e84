//! `[[upstream]]` and `[upstream.pool]` (health, outlier and backoff tables:
//! `health.rs`, `outlier.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use serde_spanned::Spanned;

use super::balance::{hash_key, POLICIES};
use super::discovery::{target, Target};
use super::health::health_check;
use super::outlier::{backoff, outlier};
use super::retry;
use super::upstream_tls::{upstream_tls, SystemRoots};
use super::value::{
    at, choice, duration, duration_within, int, jitter, name, required, MAX_DURATION,
};
use crate::model::{LbPolicy, NamedServer, PoolConfig, UpstreamConfig, UpstreamServer};
use crate::raw::{RawPool, RawUpstream, Section, ServerEntry};
use crate::report::Report;

/// Keeps the weighted round robin sums far from overflow.
pub(crate) const MAX_WEIGHT: u32 = 65_535;
/// Re-resolving more often than this only loads the DNS servers.
const MIN_RESOLVE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// Per server per shard; a bound so a typo cannot pin unbounded sockets.
pub(crate) const MAX_POOL_CONNS: usize = 1 << 20;
/// Waiters per server per shard: each is a parked request task, so the bound
/// is the memory a burst may pin while a server is saturated.
pub(crate) const MAX_PENDING: usize = 65_536;

pub(crate) fn upstreams(
    r: &mut Report<'_>,
    section: &Section<RawUpstream>,
    dir: &Path,
) -> Vec<UpstreamConfig> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut system_roots = SystemRoots::default();
    let mut out = Vec::new();
    for (i, raw) in &section.items {
        let table_at = at(raw);
        let raw = raw.get_ref();
        let base = format!("upstream[{i}]");
        let key = |field: &str| format!("{base}.{field}");

        let upstream_name = match required(r, raw.name.as_ref(), table_at, &key("name")) {
            Some(v) => {
                name(r, v, &key("name"));
                if let Some(first) = names.get(v.get_ref()) {
                    r.error(
                        at(v),
                        key("name"),
                        format!(
                            "duplicate upstream name {:?} (also upstream[{first}])",
                            v.get_ref()
                        ),
                    );
                } else {
                    names.insert(v.get_ref().clone(), *i);
                }
                v.get_ref().clone()
            }
            None => String::new(),
        };

        let lb = choice(
            r,
            raw.lb.as_ref(),
            &key("lb"),
            LbPolicy::default(),
            &POLICIES,
        );
        let (servers, named) = servers(r, raw, table_at, &key("servers"));
        out.push(UpstreamConfig {
            name: upstream_name,
            servers,
            named,
            resolve_interval: duration_within(
                r,
                raw.resolve_interval.as_ref(),
                &key("resolve_interval"),
                UpstreamConfig::DEFAULT_RESOLVE_INTERVAL,
                MIN_RESOLVE_INTERVAL..=MAX_DURATION,
            ),
            lb,
            hash_key: hash_key(
                r,
                raw.lb.as_ref(),
                lb,
                raw.hash_key.as_ref(),
                &key("hash_key"),
            ),
            connect_timeout: duration(
                r,
                raw.connect_timeout.as_ref(),
                &key("connect_timeout"),
                UpstreamConfig::DEFAULT_CONNECT_TIMEOUT,
            ),
            response_timeout: duration(
                r,
                raw.response_timeout.as_ref(),
                &key("response_timeout"),
                UpstreamConfig::DEFAULT_RESPONSE_TIMEOUT,
            ),
            read_timeout: duration(
                r,
                raw.read_timeout.as_ref(),
                &key("read_timeout"),
                UpstreamConfig::DEFAULT_READ_TIMEOUT,
            ),
            total_timeout: raw.total_timeout.as_ref().map(|v| {
                duration(
                    r,
                    Some(v),
                    &key("total_timeout"),
                    UpstreamConfig::DEFAULT_RESPONSE_TIMEOUT,
                )
            }),
            tcp_fast_open: raw
                .tcp_fast_open
                .unwrap_or(UpstreamConfig::DEFAULT_TCP_FAST_OPEN),
            pool: pool(r, raw.pool.as_ref().map(Spanned::get_ref), &key("pool")),
            health_check: health_check(r, raw.health_check.as_ref(), &key("health_check")),
            outlier: outlier(r, raw.outlier.as_ref(), &key("outlier")),
            backoff: backoff(r, raw.backoff.as_ref(), &key("backoff")),
            retry_budget: retry::budget(
                r,
                raw.retry_budget.as_ref().map(Spanned::get_ref),
                &key("retry_budget"),
            ),
            tls: raw
                .tls
                .as_ref()
                .and_then(|t| upstream_tls(r, t, &key("tls"), dir, &mut system_roots)),
            adaptive_concurrency: super::flow::adaptive_concurrency(
                r,
                raw.adaptive_concurrency.as_ref(),
                &key("adaptive_concurrency"),
            ),
        });
        http_check_over_tls(r, raw, &key("health_check.kind"));
    }
    out
}

/// Health probes speak plain HTTP/1.1: against an origin that expects TLS
/// an HTTP probe would fail every time and mark every server down. Refused
/// until probes speak TLS; a `tcp` check works for TLS origins.
fn http_check_over_tls(r: &mut Report<'_>, raw: &RawUpstream, key: &str) {
    let (Some(_), Some(check)) = (raw.tls.as_ref(), raw.health_check.as_ref()) else {
        return;
    };
    if let Some(kind) = check
        .get_ref()
        .kind
        .as_ref()
        .filter(|k| k.get_ref() == "http")
    {
        r.error(
            at(kind),
            key,
            "an \"http\" health check is sent in plain text and cannot check a server behind [upstream.tls]; use kind = \"tcp\"",
        );
    }
}

/// The entries given as IP addresses, and those given by host name.
fn servers(
    r: &mut Report<'_>,
    raw: &RawUpstream,
    table_at: usize,
    base: &str,
) -> (Vec<UpstreamServer>, Vec<NamedServer>) {
    let mut out = Vec::new();
    let mut named = Vec::new();
    let mut seen_names: HashMap<(String, u16), usize> = HashMap::new();
    let Some(list) = required(r, raw.servers.as_ref(), table_at, base) else {
        return (out, named);
    };
    if list.get_ref().0.is_empty() {
        r.error(at(list), base, "an upstream needs at least one server");
    }
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for (k, entry) in list.get_ref().0.iter().enumerate() {
        let entry_key = format!("{base}[{k}]");
        let (addr_value, weight) = match entry.get_ref() {
            // The short form: the entry itself is the address string.
            ServerEntry::Address(text) => {
                let spanned = Spanned::new(entry.span(), text.clone());
                (
                    Some((spanned, entry_key.clone())),
                    UpstreamServer::DEFAULT_WEIGHT,
                )
            }
            ServerEntry::Table(t) => {
                let addr_key = format!("{entry_key}.address");
                let addr = required(r, t.address.as_ref(), at(entry), &addr_key).cloned();
                let weight = int(
                    r,
                    t.weight.as_ref(),
                    &format!("{entry_key}.weight"),
                    UpstreamServer::DEFAULT_WEIGHT,
                    1..=MAX_WEIGHT,
                );
                (addr.map(|a| (a, addr_key)), weight)
            }
        };
        let Some((addr_value, addr_key)) = addr_value else {
            continue;
        };
        let addr = match target(r, &addr_value, &addr_key) {
            Some(Target::Ip(addr)) => addr,
            Some(Target::Name { host, port }) => {
                let site = r.site(at(&addr_value), &addr_key);
                if port == 0 {
                    r.error(at(&addr_value), &addr_key, "port 0 cannot be connected to");
                } else if let Some(first) = seen_names.get(&(host.clone(), port)) {
                    r.error(
                        at(&addr_value),
                        &addr_key,
                        format!("server {host}:{port} is listed twice (also {base}[{first}])"),
                    );
                } else {
                    seen_names.insert((host.clone(), port), k);
                }
                named.push(NamedServer {
                    host,
                    port,
                    weight,
                    site,
                });
                continue;
            }
            None => continue,
        };
        if addr.port() == 0 {
            r.error(at(&addr_value), &addr_key, "port 0 cannot be connected to");
        } else if let Some(first) = seen.get(&addr) {
            r.error(
                at(&addr_value),
                &addr_key,
                format!("server {addr} is listed twice (also {base}[{first}])"),
            );
        } else {
            seen.insert(addr, k);
        }
        out.push(UpstreamServer {
            address: addr,
            weight,
            host: None,
        });
    }
    (out, named)
}

fn pool(r: &mut Report<'_>, raw: Option<&RawPool>, base: &str) -> PoolConfig {
    let d = PoolConfig::default();
    let Some(raw) = raw else {
        return d;
    };
    let key = |field: &str| format!("{base}.{field}");
    PoolConfig {
        max_idle_per_host: int(
            r,
            raw.max_idle_per_host.as_ref(),
            &key("max_idle_per_host"),
            d.max_idle_per_host,
            0..=MAX_POOL_CONNS,
        ),
        max_conns_per_host: int(
            r,
            raw.max_conns_per_host.as_ref(),
            &key("max_conns_per_host"),
            d.max_conns_per_host,
            0..=MAX_POOL_CONNS,
        ),
        idle_timeout: duration(
            r,
            raw.idle_timeout.as_ref(),
            &key("idle_timeout"),
            d.idle_timeout,
        ),
        idle_timeout_jitter: jitter(
            r,
            raw.idle_timeout_jitter.as_ref(),
            &key("idle_timeout_jitter"),
            d.idle_timeout_jitter,
        ),
        max_pending: int(
            r,
            raw.max_pending.as_ref(),
            &key("max_pending"),
            d.max_pending,
            0..=MAX_PENDING,
        ),
        pending_timeout: duration(
            r,
            raw.pending_timeout.as_ref(),
            &key("pending_timeout"),
            d.pending_timeout,
        ),
    }
}
