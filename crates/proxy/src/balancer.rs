//! Choosing a server within an upstream.
//!
//! One balancer per upstream per shard: cursors are shard-local, so shards never
//! contend, and each shard's sequence is exact on its own (across N shards the
//! proportions still hold because each shard follows them).

use shardgate_config::LbPolicy;

#[derive(Debug, Clone)]
pub struct Balancer {
    policy: LbPolicy,
    /// Next index to try for round robin.
    cursor: usize,
    /// Per-server weight (≥ 1) for smooth weighted round robin.
    weights: Vec<i64>,
    /// nginx's `current_weight`.
    current: Vec<i64>,
}

impl Balancer {
    /// Weights of 0 are treated as 1: config validation forbids them, and a server
    /// that can never be picked is better expressed by removing it.
    pub fn new(policy: LbPolicy, weights: &[u32]) -> Balancer {
        Balancer {
            policy,
            cursor: 0,
            weights: weights.iter().map(|&w| i64::from(w.max(1))).collect(),
            current: vec![0; weights.len()],
        }
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Next server index, skipping servers for which `available(i)` is false;
    /// `None` when none is available.
    pub fn pick(&mut self, available: impl Fn(usize) -> bool) -> Option<usize> {
        match self.policy {
            LbPolicy::RoundRobin => self.pick_round_robin(available),
            LbPolicy::WeightedRoundRobin => self.pick_smooth_weighted(available),
        }
    }

    /// The cursor moves past the server picked, not merely by one, so an
    /// unavailable server's turn is not handed to its neighbour twice in a row.
    fn pick_round_robin(&mut self, available: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.weights.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor % n;
        let i = (0..n).map(|k| (start + k) % n).find(|&i| available(i))?;
        self.cursor = (i + 1) % n;
        Some(i)
    }

    /// nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every
    /// available server gains its weight, the largest `current` wins (first on ties)
    /// and pays back the total. Over one cycle of `sum(weights)` picks each server
    /// gets exactly its weight, interleaved rather than in bursts. Unavailable
    /// servers neither gain nor pay, so they rejoin without a burst.
    fn pick_smooth_weighted(&mut self, available: impl Fn(usize) -> bool) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        let mut best_current = i64::MIN;
        for (i, (cur, &w)) in self.current.iter_mut().zip(&self.weights).enumerate() {
            if !available(i) {
                continue;
            }
            *cur = cur.saturating_add(w);
            total = total.saturating_add(w);
            if best.is_none() || *cur > best_current {
                best = Some(i);
                best_current = *cur;
            }
        }
        let i = best?;
        if let Some(cur) = self.current.get_mut(i) {
            *cur = cur.saturating_sub(total);
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(b: &mut Balancer, n: usize, avail: impl Fn(usize) -> bool + Copy) -> Vec<usize> {
        (0..n).map(|_| b.pick(avail).unwrap()).collect()
    }

    #[test]
    fn round_robin_in_turn_ignoring_weights() {
        let mut b = Balancer::new(LbPolicy::RoundRobin, &[5, 1, 1]);
        assert_eq!(seq(&mut b, 7, |_| true), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn round_robin_skips_unavailable() {
        let mut b = Balancer::new(LbPolicy::RoundRobin, &[1, 1, 1, 1]);
        assert_eq!(seq(&mut b, 6, |i| i != 1), [0, 2, 3, 0, 2, 3]);
        // Server 1 back: the cursor continues where it was (after 3 → 0).
        assert_eq!(seq(&mut b, 4, |_| true), [0, 1, 2, 3]);
        assert_eq!(b.pick(|_| false), None);
    }

    #[test]
    fn empty_balancer_picks_nothing() {
        let mut b = Balancer::new(LbPolicy::RoundRobin, &[]);
        assert!(b.is_empty());
        assert_eq!(b.pick(|_| true), None);
        let mut b = Balancer::new(LbPolicy::WeightedRoundRobin, &[]);
        assert_eq!(b.pick(|_| true), None);
    }

    #[test]
    fn smooth_weighted_matches_nginx_sequence() {
        let mut b = Balancer::new(LbPolicy::WeightedRoundRobin, &[5, 1, 1]);
        // nginx documents a a b a c a a for weights 5, 1, 1; it repeats every 7.
        let expected = [0, 0, 1, 0, 2, 0, 0];
        assert_eq!(seq(&mut b, 7, |_| true), expected);
        assert_eq!(seq(&mut b, 7, |_| true), expected);
    }

    #[test]
    fn smooth_weighted_exact_proportions_per_cycle() {
        let weights = [3, 2, 7, 1];
        let mut b = Balancer::new(LbPolicy::WeightedRoundRobin, &weights);
        let cycle: usize = weights.iter().map(|&w| w as usize).sum();
        for _ in 0..5 {
            let mut counts = [0u32; 4];
            for i in seq(&mut b, cycle, |_| true) {
                counts[i] += 1;
            }
            assert_eq!(counts, weights);
        }
    }

    #[test]
    fn smooth_weighted_skips_unavailable() {
        let mut b = Balancer::new(LbPolicy::WeightedRoundRobin, &[5, 1, 1]);
        // Without server 0 the remaining 1:1 alternate.
        assert_eq!(seq(&mut b, 4, |i| i != 0), [1, 2, 1, 2]);
        assert_eq!(b.pick(|_| false), None);
        // Server 0 rejoins without a catch-up burst: still 5 of every 7.
        let mut counts = [0u32; 3];
        for i in seq(&mut b, 7, |_| true) {
            counts[i] += 1;
        }
        assert_eq!(counts, [5, 1, 1]);
    }

    #[test]
    fn zero_weight_counts_as_one() {
        let mut b = Balancer::new(LbPolicy::WeightedRoundRobin, &[0, 1]);
        assert_eq!(seq(&mut b, 4, |_| true), [0, 1, 0, 1]);
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let mut b = Balancer::new(LbPolicy::WeightedRoundRobin, &[u32::MAX, u32::MAX, 1]);
        let mut counts = [0u32; 3];
        for _ in 0..1000 {
            counts[b.pick(|_| true).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0);
        assert_eq!(counts[0], 500);
    }
}
