//! The generic cell rate algorithm on one 64-bit word: a 16-bit key tag and
//! a 48-bit theoretical arrival time (TAT), in units of 16 ns since the
//! table's epoch. 48 bits of 16 ns cover 52 days; times compare with
//! wrapping arithmetic, so the clock never runs out.
//!
//! A bucket's *debt* is how far its TAT lies ahead of now: 0 is a full
//! bucket, `tau` (burst × T) an empty one. A TAT behind now, or further
//! ahead than any write can put it (stale: a slot untouched for a wrap of
//! the clock), is a full bucket. That is why an empty table (all words 0)
//! needs no initialisation.

use std::time::Duration;

/// Nanoseconds per time unit.
pub(super) const UNIT_NS: u64 = 16;
/// Time units per second.
pub(super) const SECOND: u64 = 1_000_000_000 / UNIT_NS;
const TAT_BITS: u32 = 48;
pub(super) const TAT_MASK: u64 = (1 << TAT_BITS) - 1;
/// Longest debt the arithmetic supports: half the wrapping range, so "ahead"
/// and "behind" stay distinguishable. Validation keeps `burst × T` far below
/// it (at most a day).
pub(super) const MAX_DEBT: u64 = 1 << (TAT_BITS - 1);

pub(super) fn pack(tag: u16, tat: u64) -> u64 {
    (u64::from(tag) << TAT_BITS) | (tat & TAT_MASK)
}

pub(super) fn tag_of(word: u64) -> u16 {
    (word >> TAT_BITS) as u16
}

/// The tag a key's slot carries: the key hash's high bits (the set index
/// comes from all of its bits, remixed with the table's seed).
pub(super) fn key_tag(key: u64) -> u16 {
    (key >> TAT_BITS) as u16
}

/// A duration in time units, rounded down, saturating.
pub(super) fn units(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(SECOND)
        .saturating_add(u64::from(d.subsec_nanos()) / UNIT_NS)
}

pub(super) fn duration(units: u64) -> Duration {
    Duration::from_nanos(units.saturating_mul(UNIT_NS))
}

/// One limit in time units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Gcra {
    /// Emission interval T = 1 / rate (at least one unit).
    pub t: u64,
    /// Burst tolerance: burst × T.
    pub tau: u64,
    /// Furthest ahead of now a TAT can legitimately be: `tau` plus the one
    /// second of rate `charge` may add on top. Beyond it a TAT is stale.
    pub horizon: u64,
}

impl Gcra {
    pub fn new(interval_ns: u64, burst: u32) -> Self {
        let t = (interval_ns / UNIT_NS).clamp(1, MAX_DEBT / 4);
        let tau = t.saturating_mul(u64::from(burst.max(1))).min(MAX_DEBT / 2);
        Gcra {
            t,
            tau,
            horizon: tau.saturating_add(SECOND).min(MAX_DEBT),
        }
    }

    /// The debt of a bucket whose word holds `tat`, at `now`.
    pub fn debt(&self, tat: u64, now: u64) -> u64 {
        let ahead = tat.wrapping_sub(now) & TAT_MASK;
        if ahead > self.horizon {
            0
        } else {
            ahead
        }
    }

    /// One request against a bucket in `debt`: the new debt when it is
    /// admitted, else how long until it would be (in units).
    pub fn admit(&self, debt: u64) -> Result<u64, u64> {
        let new = debt.saturating_add(self.t);
        if new <= self.tau {
            Ok(new)
        } else {
            Err(new - self.tau)
        }
    }

    /// Requests that would still be admitted right now after a debt of `debt`.
    pub fn remaining(&self, debt: u64) -> u32 {
        let left = self.tau.saturating_sub(debt) / self.t;
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// The debt after `n` requests admitted elsewhere, capped so that a
    /// burst of remote admissions cannot push the bucket past the horizon.
    pub fn charge(&self, debt: u64, n: u32) -> u64 {
        debt.saturating_add(self.t.saturating_mul(u64::from(n)))
            .min(self.horizon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_pack_a_tag_and_a_wrapped_tat() {
        let w = pack(0xbeef, (1 << 48) + 5);
        assert_eq!(tag_of(w), 0xbeef);
        assert_eq!(w & TAT_MASK, 5);
        assert_eq!(key_tag(0xabcd_0000_0000_0001), 0xabcd);
    }

    #[test]
    fn debt_is_zero_behind_now_and_when_stale() {
        // 100/s, burst 5: T = 10 ms.
        let g = Gcra::new(10_000_000, 5);
        assert_eq!(g.t, 625_000);
        assert_eq!(g.tau, 5 * 625_000);
        let now = 1_000_000;
        assert_eq!(g.debt(now + 7, now), 7);
        assert_eq!(g.debt(now - 7, now), 0, "behind now: full bucket");
        assert_eq!(g.debt(now + g.horizon + 1, now), 0, "stale");
        // Across the wrap of the 48-bit clock.
        let now = TAT_MASK - 3;
        assert_eq!(g.debt(10 & TAT_MASK, now), 14);
    }

    #[test]
    fn admit_until_the_burst_is_spent_then_say_how_long_to_wait() {
        let g = Gcra::new(10_000_000, 3);
        let mut debt = 0;
        for left in [2, 1, 0] {
            debt = g.admit(debt).unwrap();
            assert_eq!(g.remaining(debt), left);
        }
        assert_eq!(g.admit(debt), Err(g.t));
        // Half an interval later the wait has halved.
        assert_eq!(g.admit(debt - g.t / 2), Err(g.t - g.t / 2));
    }

    #[test]
    fn charges_are_capped_at_the_horizon() {
        let g = Gcra::new(10_000_000, 3);
        assert_eq!(g.charge(0, 2), 2 * g.t);
        assert_eq!(g.charge(0, u32::MAX), g.horizon);
        assert_eq!(g.debt(g.horizon, 0), g.horizon, "a capped TAT is not stale");
    }

    #[test]
    fn extreme_limits_stay_in_range() {
        let fast = Gcra::new(1, 1);
        assert_eq!(fast.t, 1);
        let slow = Gcra::new(u64::MAX, u32::MAX);
        assert!(slow.horizon <= MAX_DEBT);
        assert!(slow.tau <= slow.horizon);
    }
}
