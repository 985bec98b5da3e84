//! Cluster-wide rate limits (`backend = "redis"`): the helper thread
//! (`shardgate-ratelimit-sync`) that shares each redis-backed rule's local
//! table with the other gateways through Redis (ADR 0016).
//!
//! The request path never waits on the network: shards decide from their
//! local table alone. Every `sync_interval` the thread drains the counts the
//! table admitted, reports them to Redis in one pipelined round trip (a Lua
//! script keeps GCRA state for the fleet), and charges the table with what
//! the other gateways admitted, so each gateway's buckets reflect the
//! fleet's use one interval late. While Redis is unreachable the local limit
//! alone applies (counted, logged once per state change), and the thread
//! reconnects with backoff.

mod client;
mod link;
mod script;
#[cfg(test)]
mod script_tests;
mod syncer;
#[cfg(test)]
mod syncer_tests;
mod tables;
#[cfg(test)]
mod test_redis;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_config::RateLimitBackend;

use crate::ctx::Shared;
use crate::snapshot::Snapshot;
use script::Gcra;
use syncer::{RuleSpec, Syncer};
use tables::RuleTables;

/// Longest sleep between two looks at the stop flag and the snapshot: how
/// late a stop or a reload's new rules are noticed.
const TICK: Duration = Duration::from_millis(100);

/// Starts the thread; it ends soon after `shared.stopping` is set. Started
/// whatever the config: a reload may add redis-backed rules, and an idle
/// thread costs a wake-up per [`TICK`].
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("shardgate-ratelimit-sync".into())
        .spawn(move || run(&shared))
}

fn run(shared: &Shared) {
    // This process's id in the fleet's mirror keys: random, so a restarted
    // gateway starts a mirror of its own (the old one expires).
    let gateway = crate::ctx::os_seed(usize::MAX);
    let mut syncer = Syncer::new(gateway, gateway.rotate_left(32));
    let mut generation = 0;
    while !shared.stopping.load(Ordering::Relaxed) {
        let snap = shared.snapshot.load_full();
        let now = Instant::now();
        if snap.generation != generation {
            generation = snap.generation;
            syncer.follow(specs(&snap), now);
        }
        let next = syncer.step(now).unwrap_or(now + TICK);
        let wait = next.saturating_duration_since(Instant::now()).min(TICK);
        std::thread::sleep(wait);
    }
}

/// The redis-backed rules of a generation, with their tables.
fn specs(snap: &Snapshot) -> Vec<RuleSpec<RuleTables>> {
    let mut out = Vec::new();
    for (r, route) in snap.config.routes.iter().enumerate() {
        let rules = route.rate_limits.iter().zip(snap.rate_limits.route(r));
        for (i, (cfg, rule)) in rules.enumerate() {
            let RateLimitBackend::Redis(redis) = &cfg.backend else {
                continue;
            };
            out.push(RuleSpec {
                table: RuleTables(rule.tables()),
                route: route.name.clone(),
                rule: i,
                gcra: Gcra::new(Duration::from_nanos(cfg.rate.interval_ns()), cfg.burst),
                address: redis.address,
                key_prefix: redis.key_prefix.clone(),
                timeout: redis.timeout,
                interval: redis.sync_interval,
            });
        }
    }
    out
}
