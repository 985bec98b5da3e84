//! A redis-backed rule's local tables as the sync sees them: one gateway,
//! one participant in the fleet's state, whatever its sharing.
//!
//! `sharing = "atomic"`: the rule's one table. `"split"`: N shard tables,
//! each with `rate / N` (T' = N x T) and about `burst / N`. The gateway
//! reports their counts summed per key, in the fleet's units; what the
//! other gateways admitted (n requests = n x T of the fleet's time) is
//! charged as n / N requests to every shard table, which moves each shard's
//! bucket by the same n x T: every shard sees the fleet's use, as its
//! share. The remainder of n / N goes to as many shards, starting at one
//! picked by the key, so small charges do not all land on shard 0.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use shardgate_proxy::Table;

use super::syncer::Pending;

pub struct RuleTables(pub Vec<Arc<Table>>);

impl Pending for RuleTables {
    fn drain_pending(&self, f: &mut dyn FnMut(u64, u32)) {
        match self.0.as_slice() {
            [one] => one.drain_pending(f),
            shards => {
                // At most N x table_size entries, on the sync thread.
                let mut sum: HashMap<u64, u32> = HashMap::new();
                for t in shards {
                    t.drain_pending(|k, n| {
                        let e = sum.entry(k).or_default();
                        *e = e.saturating_add(n);
                    });
                }
                for (k, n) in sum {
                    f(k, n);
                }
            }
        }
    }

    fn charge(&self, key: u64, n: u32, now: Instant) {
        for (t, share) in self.0.iter().zip(shares(key, n, self.0.len())) {
            t.charge(key, share, now);
        }
    }

    fn same(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

/// `n` spread over `shards`: n / shards each, one more for the remainder's
/// count of shards from `key % shards` on.
fn shares(key: u64, n: u32, shards: usize) -> impl Iterator<Item = u32> {
    let s = u32::try_from(shards.max(1)).unwrap_or(u32::MAX);
    let (each, rest) = (n / s, n % s);
    let first = (key % u64::from(s)) as u32;
    (0..s).map(move |i| {
        let from_first = (i + s - first) % s;
        each + u32::from(from_first < rest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proxy::{Limit, Verdict};

    fn limit(rate: u64, burst: u32) -> Limit {
        Limit {
            interval_ns: 1_000_000_000 / rate,
            burst,
        }
    }

    #[test]
    fn charges_spread_evenly_with_the_remainder_from_the_keys_shard() {
        assert_eq!(shares(0, 7, 1).collect::<Vec<_>>(), [7]);
        assert_eq!(shares(0, 7, 3).collect::<Vec<_>>(), [3, 2, 2]);
        assert_eq!(shares(2, 7, 3).collect::<Vec<_>>(), [2, 2, 3]);
        assert_eq!(shares(5, 2, 4).collect::<Vec<_>>(), [0, 1, 1, 0]);
        assert_eq!(shares(9, u32::MAX, 2).sum::<u32>(), u32::MAX);
    }

    #[test]
    fn split_tables_report_their_sum_per_key() {
        let shards: Vec<_> = (0..2)
            .map(|_| Arc::new(Table::new(16, limit(50, 5), true)))
            .collect();
        let now = Instant::now();
        // Keys as `key_hash` makes them: the high bits are the slot's tag.
        let (a, b) = (0xaaaa_0000_0000_0001, 0xbbbb_0000_0000_0002);
        for _ in 0..3 {
            shards[0].check(a, now);
        }
        shards[1].check(a, now);
        shards[1].check(b, now);
        let rule = RuleTables(shards);
        let mut got = Vec::new();
        rule.drain_pending(&mut |k, n| got.push((k, n)));
        got.sort();
        assert_eq!(got, [(a, 4), (b, 1)]);
        rule.drain_pending(&mut |k, n| panic!("drained twice: {k} {n}"));
    }

    #[test]
    fn a_charge_empties_every_shards_share_alike() {
        // 100/s over 2 shards: each 50/s, burst 5.
        let shards: Vec<_> = (0..2)
            .map(|_| Arc::new(Table::new(16, limit(50, 5), true)))
            .collect();
        let rule = RuleTables(shards.clone());
        let now = Instant::now();
        // Others admitted 6 (fleet: 6 x 10 ms): 3 per shard of 20 ms each.
        rule.charge(0x9999_0000_0000_0009, 6, now);
        for t in &shards {
            let admitted = (0..10)
                .filter(|_| matches!(t.check(0x9999_0000_0000_0009, now), Verdict::Allowed { .. }))
                .count();
            assert_eq!(admitted, 2, "5 - 3");
        }
        assert!(rule.same(&RuleTables(shards.clone())));
        assert!(!rule.same(&RuleTables(vec![shards[0].clone()])));
    }
}
