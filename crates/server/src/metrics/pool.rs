//! The process-wide view of one server's pools: every shard's connections
//! per state and its reuse counters, summed into metrics without a shard
//! label (`shardgate_upstream_pool_connections{upstream,server,state}`,
//! `shardgate_upstream_pool_reused_total`, `…_opened_total`).
//!
//! Each shard adds what changed since its last report, once a second from its
//! timer, never on the request path: the metrics are up to a second stale, and
//! no request writes a cache line another shard writes. A server's share is
//! taken back out when the last shard-local reference to it goes (removed by
//! a reload).

use std::cell::Cell;
use std::net::SocketAddr;

use metrics::{counter, gauge, Counter, Gauge};
use shardgate_proxy::{PoolCounts, PoolStats};

pub struct PoolGauges {
    idle: Gauge,
    busy: Gauge,
    draining: Gauge,
    reused: Counter,
    opened: Counter,
    last_counts: Cell<PoolCounts>,
    last_stats: Cell<PoolStats>,
}

impl PoolGauges {
    pub fn new(upstream: &str, server: SocketAddr) -> Self {
        let u = upstream.to_string();
        let s = server.to_string();
        let state = |st: &'static str| {
            gauge!(
                "shardgate_upstream_pool_connections",
                "upstream" => u.clone(),
                "server" => s.clone(),
                "state" => st
            )
        };
        let labels = [("upstream", u.clone()), ("server", s.clone())];
        PoolGauges {
            idle: state("idle"),
            busy: state("busy"),
            draining: state("draining"),
            reused: counter!("shardgate_upstream_pool_reused_total", &labels),
            opened: counter!("shardgate_upstream_pool_opened_total", &labels),
            last_counts: Cell::new(PoolCounts::default()),
            last_stats: Cell::new(PoolStats::default()),
        }
    }

    /// Adds this shard's change since the last report.
    pub fn publish(&self, counts: PoolCounts, stats: PoolStats) {
        let last = self.last_counts.replace(counts);
        add(&self.idle, last.idle, counts.idle);
        add(&self.busy, last.busy, counts.busy);
        add(&self.draining, last.draining, counts.draining);
        let before = self.last_stats.replace(stats);
        self.reused
            .increment(stats.reused.saturating_sub(before.reused));
        self.opened
            .increment(stats.opened.saturating_sub(before.opened));
    }
}

fn add(g: &Gauge, old: usize, new: usize) {
    if new != old {
        g.increment(new as f64 - old as f64);
    }
}

impl Drop for PoolGauges {
    fn drop(&mut self) {
        self.publish(PoolCounts::default(), self.last_stats.get());
    }
}
