//! Choosing a server within an upstream.
//!
//! One balancer per upstream per shard: its state (cursors, weights' running
//! totals) is shard-local, so shards never contend, and each shard follows
//! its policy exactly on its own (across N shards the proportions still hold
//! because each shard follows them). What a policy reads of the servers —
//! which may take the request, how loaded each is — the caller passes in per
//! pick, so the policies stay free of I/O, clocks and entropy sources.
//!
//! One file per family: `rotation` (round robin, smooth weighted round
//! robin), `least` (least request, power of two choices, with the peak-EWMA
//! latency in `ewma`), `random`, `maglev` (consistent hashing, with the
//! stable key hashes in `key`).

mod ewma;
mod input;
mod key;
mod least;
mod maglev;
mod random;
mod rotation;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use shardgate_config::{LbPolicy, UpstreamServer};

pub use ewma::PeakEwma;
pub use input::{Load, LoadUse, PickInput};
pub use key::{cookie_value, hash_bytes, hash_ip};
pub use maglev::Maglev;

#[derive(Debug, Clone)]
pub struct Balancer {
    /// Per-server weight, ≥ 1.
    weights: Vec<u32>,
    policy: Policy,
}

#[derive(Debug, Clone)]
enum Policy {
    RoundRobin(rotation::Cursor),
    Weighted(rotation::Smooth),
    /// The cursor makes equally loaded servers take turns.
    LeastRequest(rotation::Cursor),
    P2c,
    /// Sum of the weights (the draw's range when every server may take it).
    Random(u64),
    ConsistentHash(Arc<Maglev>),
}

impl Balancer {
    /// A balancer for `servers` under `policy`. `consistent_hash` uses
    /// `table` when given (built once per config generation and shared by
    /// the shards), else builds its own. Weights of 0 are treated as 1:
    /// config validation forbids them, and a server that can never be
    /// picked is better expressed by removing it.
    pub fn new(
        policy: LbPolicy,
        servers: &[UpstreamServer],
        table: Option<Arc<Maglev>>,
    ) -> Balancer {
        let weights: Vec<u32> = servers.iter().map(|s| s.weight.max(1)).collect();
        let policy = match policy {
            LbPolicy::RoundRobin => Policy::RoundRobin(rotation::Cursor::default()),
            LbPolicy::WeightedRoundRobin => Policy::Weighted(rotation::Smooth::new(weights.len())),
            LbPolicy::LeastRequest => Policy::LeastRequest(rotation::Cursor::default()),
            LbPolicy::P2c => Policy::P2c,
            LbPolicy::Random => Policy::Random(weights.iter().map(|&w| u64::from(w)).sum()),
            LbPolicy::ConsistentHash => {
                Policy::ConsistentHash(table.unwrap_or_else(|| Arc::new(Maglev::new(servers))))
            }
        };
        Balancer { weights, policy }
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    pub fn load_use(&self) -> LoadUse {
        match self.policy {
            Policy::LeastRequest(_) => LoadUse::InFlight,
            Policy::P2c => LoadUse::InFlightAndLatency,
            _ => LoadUse::Nothing,
        }
    }

    /// Next server index among those for which `available(i)` is true;
    /// `None` when none is. `load(i)` is read only by the load-aware
    /// policies.
    pub fn pick(
        &mut self,
        available: impl Fn(usize) -> bool,
        load: impl Fn(usize) -> Load,
        input: &mut PickInput<'_>,
    ) -> Option<usize> {
        let n = self.weights.len();
        match &mut self.policy {
            Policy::RoundRobin(cursor) => cursor.next(n, available),
            Policy::Weighted(smooth) => smooth.pick(&self.weights, available),
            Policy::LeastRequest(cursor) => {
                least::least_request(cursor, &self.weights, available, load)
            }
            Policy::P2c => least::p2c(n, available, load, input.now, input.rng),
            Policy::Random(total) => random::weighted(&self.weights, *total, available, input.rng),
            Policy::ConsistentHash(table) => {
                // The lifecycle always computes a key for this policy; were
                // one missing, spreading is better than piling onto one server.
                let key = input.key.unwrap_or_else(|| input.rng.next_u64());
                table.lookup(key, available)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::testing::servers;
    use super::*;
    use crate::Rng;

    fn balancer(policy: LbPolicy, weights: &[u32]) -> Balancer {
        Balancer::new(policy, &servers(weights), None)
    }

    /// `n` picks with no load, all from one seed.
    fn seq(b: &mut Balancer, n: usize, avail: impl Fn(usize) -> bool + Copy) -> Vec<usize> {
        let mut rng = Rng::new(1);
        let mut input = PickInput {
            now: Instant::now(),
            rng: &mut rng,
            key: None,
        };
        (0..n)
            .map(|_| b.pick(avail, |_| Load::default(), &mut input).unwrap())
            .collect()
    }

    #[test]
    fn each_policy_dispatches_to_its_own_rule() {
        // Round robin ignores weights; smooth weighted follows them; least
        // request with nothing in flight takes turns.
        let mut rr = balancer(LbPolicy::RoundRobin, &[5, 1, 1]);
        assert_eq!(seq(&mut rr, 7, |_| true), [0, 1, 2, 0, 1, 2, 0]);
        let mut wrr = balancer(LbPolicy::WeightedRoundRobin, &[5, 1, 1]);
        assert_eq!(seq(&mut wrr, 7, |_| true), [0, 0, 1, 0, 2, 0, 0]);
        let mut lr = balancer(LbPolicy::LeastRequest, &[5, 1, 1]);
        assert_eq!(seq(&mut lr, 6, |i| i != 1), [0, 2, 0, 2, 0, 2]);
        // Random and p2c: drawn, so not a rotation, and only available ones.
        for policy in [LbPolicy::Random, LbPolicy::P2c] {
            let mut b = balancer(policy, &[1, 1, 1]);
            let picks = seq(&mut b, 300, |i| i != 0);
            assert!(picks.iter().all(|&i| i != 0), "{policy:?}");
            assert!(picks.windows(2).any(|w| w[0] == w[1]), "{policy:?}");
            assert!(picks.contains(&1) && picks.contains(&2), "{policy:?}");
        }
    }

    #[test]
    fn empty_balancer_picks_nothing_under_every_policy() {
        let mut rng = Rng::new(3);
        for policy in [
            LbPolicy::RoundRobin,
            LbPolicy::WeightedRoundRobin,
            LbPolicy::LeastRequest,
            LbPolicy::P2c,
            LbPolicy::Random,
            LbPolicy::ConsistentHash,
        ] {
            let mut b = balancer(policy, &[]);
            assert!(b.is_empty());
            let mut input = PickInput {
                now: Instant::now(),
                rng: &mut rng,
                key: Some(7),
            };
            assert_eq!(b.pick(|_| true, |_| Load::default(), &mut input), None);
        }
    }

    #[test]
    fn nothing_available_picks_nothing_under_every_policy() {
        let mut rng = Rng::new(4);
        for policy in [
            LbPolicy::RoundRobin,
            LbPolicy::WeightedRoundRobin,
            LbPolicy::LeastRequest,
            LbPolicy::P2c,
            LbPolicy::Random,
            LbPolicy::ConsistentHash,
        ] {
            let mut b = balancer(policy, &[1, 2, 3]);
            assert_eq!(b.len(), 3);
            let mut input = PickInput {
                now: Instant::now(),
                rng: &mut rng,
                key: Some(7),
            };
            assert_eq!(
                b.pick(|_| false, |_| Load::default(), &mut input),
                None,
                "{policy:?}"
            );
        }
    }

    #[test]
    fn zero_weight_counts_as_one() {
        let mut b = balancer(LbPolicy::WeightedRoundRobin, &[0, 1]);
        assert_eq!(seq(&mut b, 4, |_| true), [0, 1, 0, 1]);
    }

    #[test]
    fn only_load_aware_policies_ask_for_load() {
        let uses = |p| balancer(p, &[1]).load_use();
        assert_eq!(uses(LbPolicy::RoundRobin), LoadUse::Nothing);
        assert_eq!(uses(LbPolicy::WeightedRoundRobin), LoadUse::Nothing);
        assert_eq!(uses(LbPolicy::Random), LoadUse::Nothing);
        assert_eq!(uses(LbPolicy::ConsistentHash), LoadUse::Nothing);
        assert_eq!(uses(LbPolicy::LeastRequest), LoadUse::InFlight);
        assert_eq!(uses(LbPolicy::P2c), LoadUse::InFlightAndLatency);
    }

    #[test]
    fn a_shared_table_is_used_as_given() {
        let servers = servers(&[1, 1, 1]);
        let table = Arc::new(Maglev::new(&servers));
        let mut b = Balancer::new(LbPolicy::ConsistentHash, &servers, Some(table.clone()));
        let mut rng = Rng::new(5);
        for key in 0..100u64 {
            let mut input = PickInput {
                now: Instant::now(),
                rng: &mut rng,
                key: Some(key),
            };
            let picked = b.pick(|_| true, |_| Load::default(), &mut input);
            assert_eq!(picked, table.lookup(key, |_| true));
        }
        // The balancer holds the same table, not a copy.
        assert_eq!(Arc::strong_count(&table), 2);
    }
}
