//! Consistent hashing with Maglev (Eisenbud et al., NSDI 2016): a lookup
//! table of a prime size that every server fills by its own permutation of
//! the slots, in turns. Each server ends up with a near-equal share of the
//! slots (or one proportional to its weight), and adding or removing one
//! of N servers moves little more than the 1/N of the keys that must move.
//!
//! A server's permutation depends only on its address, so every shard and
//! every process builds the same table from the same server list, and the
//! table survives restarts and upgrades (the hashes are pinned in `key`).

use std::net::{IpAddr, SocketAddr};

use shardgate_config::UpstreamServer;

use super::key::{mix, seeded};

/// Slots per table: prime (so every permutation visits every slot), and
/// large enough for a few hundred servers to get near-equal shares. 4 bytes
/// a slot: 256 KiB per `consistent_hash` upstream, built once per config
/// generation and shared by the shards.
pub const TABLE_SIZE: usize = 65_537;

/// A slot no server has taken (only if building was cut short).
const EMPTY: u32 = u32::MAX;

/// A server unavailable for a key hands the key to the next slots' servers;
/// after this many slots per server the rest of the walk goes by server
/// index (only when most servers are unavailable).
const WALK_PER_SERVER: usize = 8;

const SEED_OFFSET: u64 = 0x6f66_6673_6574;
const SEED_SKIP: u64 = 0x736b_6970;

#[derive(Debug)]
pub struct Maglev {
    /// Slot → server index.
    entries: Box<[u32]>,
    servers: usize,
}

/// One server's progress through its permutation while the table fills.
struct Filler {
    offset: u64,
    skip: u64,
    next: u64,
    weight: u64,
    /// The round at which it takes its next turn, × the largest weight.
    due: u64,
}

impl Maglev {
    pub fn new(servers: &[UpstreamServer]) -> Self {
        Self::sized(servers, TABLE_SIZE)
    }

    /// `size` must be prime.
    fn sized(servers: &[UpstreamServer], size: usize) -> Self {
        if servers.is_empty() || size < 2 {
            return Maglev {
                entries: Box::new([]),
                servers: 0,
            };
        }
        let mut entries = vec![EMPTY; size].into_boxed_slice();
        let m = size as u64;
        let mut fillers: Vec<Filler> = servers
            .iter()
            .map(|s| {
                let (id, len) = identity(s.address);
                let id = id.get(..len).unwrap_or_default();
                Filler {
                    offset: seeded(id, SEED_OFFSET) % m,
                    skip: seeded(id, SEED_SKIP) % (m - 1) + 1,
                    next: 0,
                    weight: u64::from(s.weight.max(1)),
                    due: 0,
                }
            })
            .collect();
        let max_weight = fillers.iter().map(|f| f.weight).max().unwrap_or(1);
        let mut filled = 0usize;
        // The heaviest servers take a turn every round, so each round fills
        // at least one slot: at most `size` rounds.
        for round in 1..=m {
            for (i, f) in fillers.iter_mut().enumerate() {
                // Weighted Maglev (as Envoy builds it): a server of weight w
                // takes a turn in w of every `max_weight` rounds.
                if round * f.weight < f.due {
                    continue;
                }
                f.due += max_weight;
                // Its most preferred slot still free.
                while f.next < m {
                    let slot = ((f.offset + f.skip * f.next) % m) as usize;
                    f.next += 1;
                    if let Some(e) = entries.get_mut(slot).filter(|e| **e == EMPTY) {
                        *e = i as u32;
                        filled += 1;
                        break;
                    }
                }
                if filled == size {
                    break;
                }
            }
            if filled == size {
                break;
            }
        }
        Maglev {
            entries,
            servers: servers.len(),
        }
    }

    /// The server for `key`: the one in the key's slot when
    /// `available(i)`, else the first available server in the slots the
    /// key visits next: a stride of the key's own (double hashing), so
    /// a down server's keys spread over the others in proportion to their
    /// slots instead of falling on the owners of the neighbouring slots
    /// (which the fill order correlates). The walk depends only on the key
    /// and on which servers are available, so a key keeps its fallback
    /// server while its own is down and returns to its own server when that
    /// one is back.
    pub fn lookup(&self, key: u64, available: impl Fn(usize) -> bool) -> Option<usize> {
        let m = self.entries.len() as u64;
        if m == 0 {
            return None;
        }
        let start = key % m;
        // 1 ≤ stride < m, and m is prime: the walk visits every slot once.
        let stride = mix(key) % (m - 1).max(1) + 1;
        let walk = self.servers.saturating_mul(WALK_PER_SERVER) as u64;
        let mut slot = start;
        for _ in 0..walk.min(m) {
            if let Some(&e) = self.entries.get(slot as usize) {
                if e != EMPTY && available(e as usize) {
                    return Some(e as usize);
                }
            }
            slot = (slot + stride) % m;
        }
        let own = self
            .entries
            .get(start as usize)
            .filter(|&&e| e != EMPTY)
            .map_or(0, |&e| e as usize);
        (1..=self.servers)
            .map(|k| (own + k) % self.servers)
            .find(|&i| available(i))
    }
}

/// A server's identity for its permutation: address and port bytes (an
/// IPv4-mapped IPv6 address is the IPv4 server).
fn identity(addr: SocketAddr) -> ([u8; 18], usize) {
    let mut out = [0u8; 18];
    let ip: &[u8] = match addr.ip().to_canonical() {
        IpAddr::V4(v4) => &v4.octets(),
        IpAddr::V6(v6) => &v6.octets(),
    };
    let len = ip.len();
    for (o, b) in out
        .iter_mut()
        .zip(ip.iter().chain(&addr.port().to_be_bytes()))
    {
        *o = *b;
    }
    (out, len + 2)
}

#[cfg(test)]
mod tests {
    use super::super::key::hash_bytes;
    use super::super::testing::servers;
    use super::*;

    fn keys(n: usize) -> Vec<u64> {
        (0..n)
            .map(|k| hash_bytes(format!("user-{k}").as_bytes()))
            .collect()
    }

    /// Server *addresses* for each key, so tables over different lists compare.
    fn mapping(list: &[UpstreamServer], keys: &[u64]) -> Vec<SocketAddr> {
        let t = Maglev::new(list);
        keys.iter()
            .map(|&k| list[t.lookup(k, |_| true).unwrap()].address)
            .collect()
    }

    fn moved(a: &[SocketAddr], b: &[SocketAddr]) -> f64 {
        let n = a.iter().zip(b).filter(|(x, y)| x != y).count();
        n as f64 / a.len() as f64
    }

    fn slot_shares(t: &Maglev, n: usize) -> Vec<f64> {
        let mut c = vec![0usize; n];
        for &e in t.entries.iter() {
            c[e as usize] += 1;
        }
        c.iter()
            .map(|&k| k as f64 / t.entries.len() as f64)
            .collect()
    }

    #[test]
    fn every_slot_is_taken_and_shares_are_near_equal() {
        for n in [1, 2, 5, 10, 37] {
            let t = Maglev::new(&servers(&vec![1; n]));
            assert!(t.entries.iter().all(|&e| (e as usize) < n));
            for share in slot_shares(&t, n) {
                assert!(
                    (share - 1.0 / n as f64).abs() < 0.01 / n as f64 + 0.001,
                    "{n}: {share}"
                );
            }
        }
    }

    #[test]
    fn the_same_key_always_maps_to_the_same_server() {
        let list = servers(&[1, 1, 1, 1, 1]);
        let ks = keys(2000);
        // Two tables built apart (two shards, or two processes) agree, and
        // a table answers the same every time.
        let (a, b) = (Maglev::new(&list), Maglev::new(&list));
        for &k in &ks {
            let first = a.lookup(k, |_| true);
            assert_eq!(first, b.lookup(k, |_| true));
            assert_eq!(first, a.lookup(k, |_| true));
        }
        // Server order does not matter: identity is the address.
        let mut reversed = list.clone();
        reversed.reverse();
        assert_eq!(mapping(&list, &ks), mapping(&reversed, &ks));
    }

    #[test]
    fn keys_spread_over_all_servers() {
        let list = servers(&[1; 5]);
        let t = Maglev::new(&list);
        let mut c = [0u32; 5];
        for k in keys(10_000) {
            c[t.lookup(k, |_| true).unwrap()] += 1;
        }
        for k in c {
            assert!((1800..2200).contains(&k), "{c:?}");
        }
    }

    #[test]
    fn removing_or_adding_one_server_moves_about_one_nth() {
        let ks = keys(10_000);
        for n in [5usize, 10] {
            let all = servers(&vec![1; n + 1]);
            let base = &all[..n];
            let before = mapping(base, &ks);
            let bound = 1.0 / n as f64 + 0.05;
            // Remove each server in turn.
            for gone in 0..n {
                let mut fewer = base.to_vec();
                fewer.remove(gone);
                let m = moved(&before, &mapping(&fewer, &ks));
                assert!(
                    m <= bound,
                    "n={n}, removed {gone}: moved {m:.3} > {bound:.3}"
                );
                // At least the removed server's keys moved.
                assert!(m >= 1.0 / n as f64 - 0.03, "n={n}: moved only {m:.3}");
            }
            // Add one.
            let m = moved(&before, &mapping(&all, &ks));
            assert!(m <= bound, "n={n}, added: moved {m:.3} > {bound:.3}");
        }
    }

    #[test]
    fn weights_set_the_shares() {
        let weights = [1, 2, 3, 4];
        let list = servers(&weights);
        let t = Maglev::new(&list);
        let total: u32 = weights.iter().sum();
        for (share, &w) in slot_shares(&t, 4).iter().zip(&weights) {
            let want = f64::from(w) / f64::from(total);
            assert!((share - want).abs() < 0.01, "{share} vs {want}");
        }
        let mut c = [0u32; 4];
        let ks = keys(10_000);
        for &k in &ks {
            c[t.lookup(k, |_| true).unwrap()] += 1;
        }
        for (&got, &w) in c.iter().zip(&weights) {
            let want = 10_000.0 * f64::from(w) / f64::from(total);
            assert!((f64::from(got) - want).abs() < 300.0, "{c:?}");
        }
    }

    #[test]
    fn an_unavailable_server_hands_its_keys_on_and_gets_them_back() {
        let list = servers(&[1; 5]);
        let t = Maglev::new(&list);
        let ks = keys(5000);
        let up: Vec<usize> = ks.iter().map(|&k| t.lookup(k, |_| true).unwrap()).collect();
        let down = 3;
        let mut spread = [0u32; 5];
        for (&k, &own) in ks.iter().zip(&up) {
            let now = t.lookup(k, |i| i != down).unwrap();
            if own == down {
                assert_ne!(now, down);
                spread[now] += 1;
                // Stable while the server stays down.
                assert_eq!(t.lookup(k, |i| i != down), Some(now));
            } else {
                // Keys of the other servers stay where they were.
                assert_eq!(now, own);
            }
            // Back up: back to its own server.
            assert_eq!(t.lookup(k, |_| true), Some(own));
        }
        // The orphaned keys spread evenly over the remaining servers (a
        // quarter each, ± 7 points).
        assert_eq!(spread[down], 0);
        let orphans = f64::from(spread.iter().sum::<u32>());
        assert!(orphans > 800.0, "{spread:?}");
        for (i, &k) in spread.iter().enumerate() {
            if i != down {
                assert!((f64::from(k) / orphans - 0.25).abs() < 0.07, "{spread:?}");
            }
        }
    }

    #[test]
    fn mostly_down_still_finds_the_last_server_and_none_finds_nothing() {
        let list = servers(&[1; 10]);
        let t = Maglev::new(&list);
        for k in keys(500) {
            assert_eq!(t.lookup(k, |i| i == 7), Some(7));
            assert_eq!(t.lookup(k, |_| false), None);
        }
        assert_eq!(Maglev::new(&[]).lookup(1, |_| true), None);
    }

    #[test]
    fn ipv4_mapped_servers_are_the_same_server() {
        let v4: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:80".parse().unwrap();
        let other: SocketAddr = "192.0.2.1:81".parse().unwrap();
        assert_eq!(identity(v4), identity(mapped));
        assert_ne!(identity(v4), identity(other));
    }
}
