//! The rate-limit tables of one config generation, built on the control
//! thread with the snapshot. A rule that is unchanged by a reload (same
//! route name, position, key, rate, burst, sharing, table size and backend)
//! keeps its tables, so reloading never hands clients a fresh burst.
//!
//! `sharing = "atomic"`: one table shared by every shard. `"split"`: one
//! table per shard with `rate / N`, `burst / N` (at least 1).

use std::sync::Arc;

use shardgate_config::{Config, RateLimitBackend, RateLimitConfig, RateLimitKey, Sharing};
use shardgate_proxy::{Limit, Table};

/// By route index (as `Config::routes`), then by rule index.
#[derive(Default)]
pub struct RateLimits {
    pub routes: Vec<Vec<Rule>>,
}

/// The tables of one `[[route.rate_limit]]` rule.
pub struct Rule {
    ident: Ident,
    tables: Tables,
}

enum Tables {
    Atomic(Arc<Table>),
    /// By shard.
    Split(Vec<Arc<Table>>),
}

/// What a rule's tables depend on: a reload that changes none of it keeps
/// them.
#[derive(PartialEq)]
struct Ident {
    route: String,
    index: usize,
    key: RateLimitKey,
    interval_ns: u64,
    burst: u32,
    sharing: Sharing,
    table_size: usize,
    sync: bool,
}

impl Ident {
    fn of(route: &str, index: usize, rule: &RateLimitConfig) -> Self {
        Ident {
            route: route.to_string(),
            index,
            key: rule.key.clone(),
            interval_ns: rule.rate.interval_ns(),
            burst: rule.burst,
            sharing: rule.sharing,
            table_size: rule.table_size,
            sync: matches!(rule.backend, RateLimitBackend::Redis(_)),
        }
    }
}

impl RateLimits {
    /// `shards`: the process's shard count (fixed for its life).
    pub fn build(cfg: &Config, previous: Option<&RateLimits>, shards: usize) -> Self {
        let kept = |ident: &Ident| {
            previous
                .into_iter()
                .flat_map(|p| p.routes.iter().flatten())
                .find(|r| &r.ident == ident)
        };
        let routes = cfg
            .routes
            .iter()
            .map(|route| {
                route
                    .rate_limits
                    .iter()
                    .enumerate()
                    .map(|(i, rule)| {
                        let ident = Ident::of(&route.name, i, rule);
                        let tables = match kept(&ident) {
                            Some(old) => old.tables.share(),
                            None => Tables::new(&ident, shards),
                        };
                        Rule { ident, tables }
                    })
                    .collect()
            })
            .collect();
        RateLimits { routes }
    }

    /// The rules of route `route` (empty when it has none).
    pub fn route(&self, route: usize) -> &[Rule] {
        self.routes.get(route).map_or(&[], Vec::as_slice)
    }
}

impl Rule {
    /// Every table of the rule: the one, or one per shard. The Redis sync
    /// drains and charges them all.
    pub fn tables(&self) -> Vec<Arc<Table>> {
        match &self.tables {
            Tables::Atomic(t) => vec![t.clone()],
            Tables::Split(by_shard) => by_shard.clone(),
        }
    }

    /// The table shard `shard` checks.
    pub fn table(&self, shard: usize) -> Option<&Table> {
        match &self.tables {
            Tables::Atomic(t) => Some(t),
            Tables::Split(by_shard) => by_shard.get(shard).map(|t| &**t),
        }
    }
}

impl RateLimits {
    /// Evictions since the last call in the tables shard `shard` checks,
    /// added to each route's counter (`counters`, by route index). Each
    /// eviction is taken once, whichever shard takes it.
    pub fn publish_evictions(&self, shard: usize, counters: &[metrics::Counter]) {
        for (rules, counter) in self.routes.iter().zip(counters) {
            let n: u64 = rules
                .iter()
                .filter_map(|r| r.table(shard))
                .map(Table::take_evictions)
                .sum();
            if n > 0 {
                counter.increment(n);
            }
        }
    }
}

impl Tables {
    fn new(ident: &Ident, shards: usize) -> Self {
        // One bucket for the whole route: one set is plenty.
        let slots = match ident.key {
            RateLimitKey::Route => shardgate_proxy::RATE_LIMIT_WAYS,
            _ => ident.table_size,
        };
        let limit = Limit {
            interval_ns: ident.interval_ns,
            burst: ident.burst,
        };
        match ident.sharing {
            Sharing::Atomic => Tables::Atomic(Arc::new(Table::new(slots, limit, ident.sync))),
            Sharing::Split => {
                let n = shards.max(1);
                let per_shard = Limit {
                    interval_ns: limit.interval_ns.saturating_mul(n as u64),
                    burst: (limit.burst / n as u32).max(1),
                };
                Tables::Split(
                    (0..n)
                        .map(|_| Arc::new(Table::new(slots, per_shard, ident.sync)))
                        .collect(),
                )
            }
        }
    }

    fn share(&self) -> Self {
        match self {
            Tables::Atomic(t) => Tables::Atomic(t.clone()),
            Tables::Split(v) => Tables::Split(v.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn config(rules: &str) -> Config {
        let text = format!(
            "[[listener]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n\
             [[route]]\nname = \"a\"\nrespond = {{ status = 200 }}\n{rules}"
        );
        shardgate_config::parse(&text, "t.toml").unwrap()
    }

    fn ptr(r: &RateLimits, rule: usize) -> *const Table {
        r.route(0)[rule].table(0).unwrap()
    }

    #[test]
    fn unchanged_rules_keep_their_tables_changed_ones_start_fresh() {
        let one = config(
            "[[route.rate_limit]]\nrate = \"10/s\"\n\
             [[route.rate_limit]]\nrate = \"5/s\"\nkey = \"route\"\n",
        );
        let r1 = RateLimits::build(&one, None, 2);
        let r2 = RateLimits::build(&one, Some(&r1), 2);
        assert_eq!(ptr(&r1, 0), ptr(&r2, 0));
        assert_eq!(ptr(&r1, 1), ptr(&r2, 1));
        // The second rule's rate changes: only it starts afresh.
        let two = config(
            "[[route.rate_limit]]\nrate = \"10/s\"\n\
             [[route.rate_limit]]\nrate = \"6/s\"\nkey = \"route\"\n",
        );
        let r3 = RateLimits::build(&two, Some(&r2), 2);
        assert_eq!(ptr(&r1, 0), ptr(&r3, 0));
        assert_ne!(ptr(&r1, 1), ptr(&r3, 1));
        assert_eq!(r3.route(0)[1].table(0).unwrap().slots(), 4);
        assert!(r3.route(7).is_empty());
    }

    #[test]
    fn split_rules_give_each_shard_its_share() {
        let c = config("[[route.rate_limit]]\nrate = \"100/s\"\nburst = 10\nsharing = \"split\"\n");
        let r = RateLimits::build(&c, None, 4);
        let rule = &r.route(0)[0];
        let t0 = rule.table(0).unwrap();
        assert_eq!(
            t0.limit(),
            Limit {
                interval_ns: 40_000_000,
                burst: 2
            }
        );
        assert!(rule.table(4).is_none());
        assert!(!std::ptr::eq(t0, rule.table(1).unwrap()));
        // Each shard's table admits its own share of the burst.
        let now = Instant::now();
        let admitted = (0..10)
            .filter(|_| matches!(t0.check(1, now), shardgate_proxy::Verdict::Allowed { .. }))
            .count();
        assert_eq!(admitted, 2);
    }
}
