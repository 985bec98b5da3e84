//! The sync script (`sync.lua`) and the arithmetic around it: the Redis key
//! of a limited key, the script's arguments for one rule's drained counts,
//! and what comes back (requests the other gateways admitted, to charge).

use std::fmt::Write;
use std::time::Duration;

/// The script's source, loaded once per connection (`SCRIPT LOAD`).
pub const SOURCE: &str = include_str!("sync.lua");

/// Limited keys per script call. Bounds the time one call holds Redis
/// (scripts run one at a time) to ~128 keys' work and its arguments to a few
/// KiB; a sync of a full table is many calls in one pipelined round trip.
pub const CHUNK: usize = 128;

/// Expiry slack of the script's keys: past its TAT a key holds no
/// information, the slack only absorbs rounding.
const SLACK_MS: u64 = 1000;

/// A rule's limit as the script takes it: microseconds of Redis's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gcra {
    /// Emission interval T = 1 / rate.
    pub t_us: f64,
    /// How far ahead of now a TAT may go: burst x T plus one second of rate,
    /// the horizon of the local table's `charge`, so the fleet's state never
    /// asks for more than a local table can take.
    pub cap_us: f64,
}

impl Gcra {
    pub fn new(interval: Duration, burst: u32) -> Self {
        let t_us = interval.as_secs_f64() * 1e6;
        Gcra {
            t_us,
            cap_us: t_us * f64::from(burst.max(1)) + 1e6,
        }
    }
}

/// Names the Redis keys of one rule: `{key_prefix}{route}:{rule}:{hash}`
/// (the key hash in hex) for the fleet's state, and that plus
/// `:{gateway id}` for this gateway's mirror.
pub struct KeyNames {
    base: String,
    gateway: u64,
}

impl KeyNames {
    pub fn new(prefix: &str, route: &str, rule: usize, gateway: u64) -> Self {
        KeyNames {
            base: format!("{prefix}{route}:{rule}:"),
            gateway,
        }
    }

    /// Appends both keys of `key` to `out` (fleet, then mirror).
    fn push(&self, key: u64, out: &mut Vec<String>) {
        let mut fleet = String::with_capacity(self.base.len() + 16);
        fleet.push_str(&self.base);
        let _ = write!(fleet, "{key:016x}");
        let mirror = format!("{fleet}:{:016x}", self.gateway);
        out.push(fleet);
        out.push(mirror);
    }
}

/// One script call: `EVALSHA sha numkeys KEYS… ARGV…`, as arguments after
/// the SHA.
pub struct Call {
    pub keys: Vec<String>,
    pub args: Vec<String>,
}

/// The calls that report `drained` (key hash, requests admitted here since
/// the last sync) for one rule, in order, at most [`CHUNK`] keys each.
pub fn calls(names: &KeyNames, gcra: Gcra, drained: &[(u64, u32)]) -> Vec<Call> {
    drained
        .chunks(CHUNK)
        .map(|chunk| {
            let mut keys = Vec::with_capacity(chunk.len() * 2);
            let mut args = Vec::with_capacity(chunk.len() + 3);
            // {:.3}: nanosecond precision; a 16-digit microsecond time plus
            // a few more digits stays exact enough in the script's doubles.
            args.push(format!("{:.3}", gcra.t_us));
            args.push(format!("{:.3}", gcra.cap_us));
            args.push(SLACK_MS.to_string());
            for &(key, count) in chunk {
                names.push(key, &mut keys);
                args.push(count.to_string());
            }
            Call { keys, args }
        })
        .collect()
}

/// Pairs the replies of a rule's calls with its drained keys: `(key, n)` for
/// every key the other gateways admitted requests for (n > 0). A reply
/// shorter or longer than its call (not this script's) drops what does not
/// pair; a negative or huge count is clamped.
pub fn charges<'a>(
    drained: &'a [(u64, u32)],
    replies: &'a [Vec<i64>],
) -> impl Iterator<Item = (u64, u32)> + 'a {
    drained
        .chunks(CHUNK)
        .zip(replies)
        .flat_map(|(chunk, reply)| chunk.iter().zip(reply))
        .filter_map(|(&(key, _), &n)| {
            let n = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
            (n > 0).then_some((key, n))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_prefix_route_rule_and_hash_and_the_mirror_the_gateway() {
        let names = KeyNames::new("sg:rl:", "api", 2, 0xab);
        let mut out = Vec::new();
        names.push(0x1234_5678_9abc_def0, &mut out);
        assert_eq!(
            out,
            [
                "sg:rl:api:2:123456789abcdef0",
                "sg:rl:api:2:123456789abcdef0:00000000000000ab"
            ]
        );
    }

    #[test]
    fn a_limit_becomes_microseconds_with_a_one_second_horizon() {
        // 100/s, burst 20: T = 10 ms, cap = 200 ms + 1 s.
        let g = Gcra::new(Duration::from_millis(10), 20);
        assert_eq!(g.t_us, 10_000.0);
        assert_eq!(g.cap_us, 1_200_000.0);
        // 3/s: T is not a whole number of microseconds.
        let g = Gcra::new(Duration::from_nanos(333_333_333), 1);
        assert!((g.t_us - 333_333.333).abs() < 1e-6);
    }

    #[test]
    fn drained_keys_are_split_into_bounded_calls_in_order() {
        let names = KeyNames::new("p:", "r", 0, 7);
        let drained: Vec<(u64, u32)> = (0..300).map(|k| (k, k as u32 + 1)).collect();
        let calls = calls(&names, Gcra::new(Duration::from_millis(10), 5), &drained);
        assert_eq!(calls.len(), 3);
        assert_eq!(
            calls.iter().map(|c| c.keys.len()).collect::<Vec<_>>(),
            [256, 256, 88]
        );
        let last = &calls[2];
        assert_eq!(last.args[..3], ["10000.000", "1050000.000", "1000"]);
        assert_eq!(last.args.len(), 3 + 44);
        assert_eq!(last.args[3], "257", "key 256 admitted 257");
        assert_eq!(last.keys[0], format!("p:r:0:{:016x}", 256));
    }

    #[test]
    fn replies_pair_with_their_keys_and_zero_charges_drop() {
        let drained: Vec<(u64, u32)> = (0..130).map(|k| (k, 1)).collect();
        let mut first = vec![0; CHUNK];
        first[3] = 4;
        first[127] = -1;
        let replies = vec![first, vec![i64::MAX, 2]];
        let got: Vec<_> = charges(&drained, &replies).collect();
        assert_eq!(got, [(3, 4), (128, u32::MAX), (129, 2)]);
        // A short reply pairs what it has.
        let got: Vec<_> = charges(&drained, &[vec![0, 5]]).collect();
        assert_eq!(got, [(1, 5)]);
    }
}
