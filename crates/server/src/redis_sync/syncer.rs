//! The sync loop's logic, apart from the thread and the snapshot: the
//! redis-backed rules in force, each on its schedule, grouped by Redis
//! server; one step drains every due rule's table, reports the counts to
//! its server in one pipelined round trip, and charges what comes back.
//!
//! Bounds: a rule's drained batch holds at most one entry per slot of its
//! table (`drain_pending` yields each pending slot once), so a round trip
//! carries at most the due rules' table sizes of keys; nothing queues from
//! one step to the next (counts drained while Redis is unreachable are
//! dropped: the local limit has already applied to them).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shardgate_proxy::Rng;

use super::link::Link;
use super::script::{calls, charges, Call, Gcra, KeyNames};
use crate::metrics::redis_sync::RedisSyncMetrics;

/// What the sync needs of a rule's local tables (built with sync on).
pub trait Pending {
    /// Every key hash admitted locally since the last call, with its count.
    fn drain_pending(&self, f: &mut dyn FnMut(u64, u32));
    /// `n` requests admitted elsewhere for `key`.
    fn charge(&self, key: u64, n: u32, now: Instant);
    /// The same tables (a reload kept them).
    fn same(&self, other: &Self) -> bool;
}

/// A redis-backed rule of the config in force.
pub struct RuleSpec<T> {
    pub table: T,
    pub route: String,
    /// The rule's index in its route.
    pub rule: usize,
    pub gcra: Gcra,
    pub address: SocketAddr,
    pub key_prefix: String,
    pub timeout: Duration,
    pub interval: Duration,
}

impl<T: Pending> RuleSpec<T> {
    /// The same rule with the same settings (a reload that kept it).
    fn same(&self, o: &RuleSpec<T>) -> bool {
        self.table.same(&o.table)
            && (&self.route, self.rule, &self.address, &self.key_prefix)
                == (&o.route, o.rule, &o.address, &o.key_prefix)
            && (self.gcra, self.timeout, self.interval) == (o.gcra, o.timeout, o.interval)
    }
}

struct Rule<T> {
    spec: RuleSpec<T>,
    names: KeyNames,
    /// Index into `Syncer::links`.
    link: usize,
    next: Instant,
    /// The last drain (kept for its capacity).
    drained: Vec<(u64, u32)>,
    metrics: RedisSyncMetrics,
}

pub struct Syncer<T> {
    /// This process's id in the script's mirror keys.
    gateway: u64,
    rules: Vec<Rule<T>>,
    links: Vec<Link>,
    rng: Rng,
}

impl<T: Pending> Syncer<T> {
    pub fn new(gateway: u64, seed: u64) -> Self {
        Syncer {
            gateway,
            rules: Vec::new(),
            links: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    /// Takes the rules of a new config generation: a rule kept with the
    /// same settings keeps its schedule, a new or changed one syncs at once;
    /// a server no rule names any more is disconnected.
    pub fn follow(&mut self, specs: Vec<RuleSpec<T>>, now: Instant) {
        let mut old = std::mem::take(&mut self.rules);
        let mut links = std::mem::take(&mut self.links);
        let mut kept_links = Vec::new();
        for spec in specs {
            let link = match kept_links
                .iter()
                .position(|l: &Link| l.address == spec.address && l.timeout == spec.timeout)
            {
                Some(i) => i,
                None => {
                    let l = match links
                        .iter()
                        .position(|l| l.address == spec.address && l.timeout == spec.timeout)
                    {
                        Some(i) => links.swap_remove(i),
                        None => Link::new(spec.address, spec.timeout, self.rng.next_u64()),
                    };
                    kept_links.push(l);
                    kept_links.len() - 1
                }
            };
            let rule = match old.iter().position(|r| r.spec.same(&spec)) {
                Some(i) => Rule {
                    link,
                    ..old.swap_remove(i)
                },
                None => Rule {
                    names: KeyNames::new(&spec.key_prefix, &spec.route, spec.rule, self.gateway),
                    metrics: RedisSyncMetrics::new(&spec.route),
                    spec,
                    link,
                    next: now,
                    drained: Vec::new(),
                },
            };
            self.rules.push(rule);
        }
        for gone in old {
            gone.metrics.fallback.set(0.0);
        }
        self.links = kept_links;
    }

    /// Syncs every rule due at `now`; returns when the next one is due.
    pub fn step(&mut self, now: Instant) -> Option<Instant> {
        for link in 0..self.links.len() {
            self.sync_link(link, now);
        }
        self.rules.iter().map(|r| r.next).min()
    }

    fn sync_link(&mut self, link: usize, now: Instant) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let mut batch: Vec<(usize, Vec<Call>)> = Vec::new();
        for (i, r) in self.rules.iter_mut().enumerate() {
            if r.link != link || r.next > now {
                continue;
            }
            // From now, not from the missed time: a slow round trip does not
            // make the next ones run back to back.
            r.next = now + r.spec.interval;
            r.drained.clear();
            let drained = &mut r.drained;
            r.spec.table.drain_pending(&mut |k, n| drained.push((k, n)));
            if !r.drained.is_empty() {
                batch.push((i, calls(&r.names, r.spec.gcra, &r.drained)));
            }
        }
        if batch.is_empty() || !l.ready(now) {
            return;
        }
        let sent = batch.iter().flat_map(|(_, c)| c.iter());
        let result = l.run(sent, now);
        let down = l.is_down();
        for r in self.rules.iter().filter(|r| r.link == link) {
            r.metrics.fallback.set(if down { 1.0 } else { 0.0 });
        }
        let replies = match result {
            Ok(replies) => replies,
            Err(_) => {
                for (i, _) in &batch {
                    if let Some(r) = self.rules.get(*i) {
                        r.metrics.errors.increment(1);
                    }
                }
                return;
            }
        };
        let charged_at = Instant::now();
        let mut replies = replies.as_slice();
        for (i, calls) in &batch {
            let Some(r) = self.rules.get(*i) else {
                continue;
            };
            let (mine, rest) = replies.split_at(calls.len().min(replies.len()));
            replies = rest;
            let mut total = 0u64;
            for (key, n) in charges(&r.drained, mine) {
                r.spec.table.charge(key, n, charged_at);
                total += u64::from(n);
            }
            r.metrics.syncs.increment(1);
            r.metrics.charged.increment(total);
        }
    }

    /// Whether the server of `rule` (by position in the last `follow`) is
    /// unreachable now.
    #[cfg(test)]
    pub fn in_fallback(&self, rule: usize) -> bool {
        self.rules
            .get(rule)
            .and_then(|r| self.links.get(r.link))
            .is_some_and(Link::is_down)
    }

    #[cfg(test)]
    pub fn links(&self) -> usize {
        self.links.len()
    }
}
