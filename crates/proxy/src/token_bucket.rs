//! A shard-local token bucket for rate limiting.
//!
//! Each shard keeps its own buckets (no atomics, no locks); with N shards a
//! limit is usually configured as `rate / N` per shard, or enforced where the
//! traffic of one key lands on one shard. Like the rest of this crate it reads
//! no clock: callers pass the `Instant` they already took for the request.
//!
//! Accounting is in integers: one token is [`SCALE`] "nano-tokens", and every
//! nanosecond earns `rate` of them, so `elapsed_ns × rate` is exact. A float
//! level would lose a little on every refill and drift over a long run; here a
//! bucket that is refilled a million times in 1 µs steps holds exactly what one
//! refill of 1 s would give.

use std::time::{Duration, Instant};

/// Nano-tokens per token (and nanoseconds per second, which is why the refill
/// needs no division).
const SCALE: u128 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens earned per second.
    rate: u64,
    /// Most tokens held at once, in nano-tokens.
    capacity: u128,
    /// Tokens held at `last`, in nano-tokens (≤ `capacity`).
    level: u128,
    /// The latest instant seen; never moves backwards.
    last: Instant,
}

impl TokenBucket {
    /// A full bucket: `burst` requests may pass at once, then `rate_per_sec`
    /// per second. A rate of 0 never refills (the bucket is a fixed allowance);
    /// a burst of 0 lets nothing through (except requests for 0 tokens).
    pub fn new(rate_per_sec: u64, burst: u64, now: Instant) -> TokenBucket {
        let capacity = u128::from(burst) * SCALE;
        TokenBucket {
            rate: rate_per_sec,
            capacity,
            level: capacity,
            last: now,
        }
    }

    /// Takes `n` tokens if they are all there; otherwise takes none.
    pub fn try_take(&mut self, now: Instant, n: u64) -> bool {
        self.refill(now);
        let need = u128::from(n) * SCALE;
        if need > self.level {
            return false;
        }
        self.level -= need;
        true
    }

    /// How long from `now` until `n` tokens are available (zero if they are),
    /// assuming nobody else takes any: the value for `Retry-After` or for
    /// pausing reads. `Duration::MAX` when they never will be (more than the
    /// burst, or a rate of 0).
    pub fn time_until(&self, now: Instant, n: u64) -> Duration {
        let need = u128::from(n) * SCALE;
        let level = self.level_at(now);
        if need <= level {
            return Duration::ZERO;
        }
        if need > self.capacity || self.rate == 0 {
            return Duration::MAX;
        }
        // Round up: after this many nanoseconds the tokens are there, one less
        // and they might not be.
        let deficit = need - level;
        let rate = u128::from(self.rate);
        let nanos = deficit.div_ceil(rate);
        nanos_to_duration(nanos)
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Instant) -> u64 {
        u64::try_from(self.level_at(now) / SCALE).unwrap_or(u64::MAX)
    }

    /// Applies a new rate and burst (config reload) without forgetting what was
    /// spent: tokens earned so far are kept, capped at the new burst.
    pub fn reconfigure(&mut self, rate_per_sec: u64, burst: u64, now: Instant) {
        self.refill(now);
        self.rate = rate_per_sec;
        self.capacity = u128::from(burst) * SCALE;
        self.level = self.level.min(self.capacity);
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// The burst in whole tokens.
    pub fn burst(&self) -> u64 {
        u64::try_from(self.capacity / SCALE).unwrap_or(u64::MAX)
    }

    fn refill(&mut self, now: Instant) {
        self.level = self.level_at(now);
        // An `Instant` older than one already seen (taken earlier on another
        // path, or a coarse clock) earns nothing and must not rewind `last`,
        // or the same interval would be earned twice.
        if now > self.last {
            self.last = now;
        }
    }

    fn level_at(&self, now: Instant) -> u128 {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        // Saturating is exact here: a product that large is above any capacity.
        let earned = elapsed.saturating_mul(u128::from(self.rate));
        self.level.saturating_add(earned).min(self.capacity)
    }
}

fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = nanos / SCALE;
    // The remainder is below 10^9, so it fits a u32.
    let sub = u32::try_from(nanos % SCALE).unwrap_or(0);
    match u64::try_from(secs) {
        Ok(secs) => Duration::new(secs, sub),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_full_and_allows_the_burst_at_once() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5, t0);
        assert_eq!(b.available(t0), 5);
        for _ in 0..5 {
            assert!(b.try_take(t0, 1));
        }
        assert!(!b.try_take(t0, 1));
        assert_eq!(b.available(t0), 0);
    }

    #[test]
    fn refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5, t0);
        assert!(b.try_take(t0, 5));
        // 10/s = one token per 100 ms.
        assert!(!b.try_take(t0 + ms(99), 1));
        assert!(b.try_take(t0 + ms(100), 1));
        assert!(!b.try_take(t0 + ms(150), 1));
        assert!(b.try_take(t0 + ms(350), 2));
        assert!(!b.try_take(t0 + ms(350), 1));
    }

    #[test]
    fn a_failed_take_takes_nothing() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1, 3, t0);
        assert!(b.try_take(t0, 2));
        assert!(!b.try_take(t0, 2));
        assert!(b.try_take(t0, 1));
    }

    #[test]
    fn long_idle_caps_at_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 5, t0);
        assert!(b.try_take(t0, 5));
        let later = t0 + Duration::from_secs(365 * 24 * 3600);
        assert_eq!(b.available(later), 5);
        assert!(b.try_take(later, 5));
        assert!(!b.try_take(later, 1));
    }

    #[test]
    fn huge_rate_times_long_idle_does_not_overflow() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(u64::MAX, u64::MAX, t0);
        assert!(b.try_take(t0, u64::MAX));
        let later = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(b.available(later), u64::MAX);
        assert!(b.try_take(later, u64::MAX));
        assert_eq!(b.time_until(later, 1), Duration::from_nanos(1));
    }

    #[test]
    fn a_clock_that_does_not_move_earns_nothing() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1_000_000, 2, t0);
        assert!(b.try_take(t0, 2));
        for _ in 0..1000 {
            assert!(!b.try_take(t0, 1));
        }
        assert_eq!(b.available(t0), 0);
    }

    #[test]
    fn an_instant_from_the_past_neither_earns_nor_rewinds() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 10, t0);
        assert!(b.try_take(t0 + ms(1000), 10));
        // A stale `now` (taken before the last call) must not earn the
        // interval back, nor move `last` back so that it is earned twice.
        assert!(!b.try_take(t0 + ms(500), 1));
        assert_eq!(b.available(t0 + ms(500)), 0);
        assert_eq!(b.available(t0 + ms(1100)), 1);
        assert!(b.try_take(t0 + ms(1100), 1));
        assert!(!b.try_take(t0 + ms(1100), 1));
    }

    #[test]
    fn huge_n_is_refused_and_never_available() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 10, t0);
        assert!(!b.try_take(t0, 11));
        assert!(!b.try_take(t0, u64::MAX));
        assert_eq!(b.available(t0), 10, "a refused take takes nothing");
        assert_eq!(b.time_until(t0, 11), Duration::MAX);
        assert_eq!(b.time_until(t0, u64::MAX), Duration::MAX);
        // Burst-sized requests are fine.
        assert!(b.try_take(t0, 10));
    }

    #[test]
    fn zero_tokens_always_pass() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0, 0, t0);
        assert!(b.try_take(t0, 0));
        assert_eq!(b.time_until(t0, 0), Duration::ZERO);
        assert!(!b.try_take(t0, 1));
        assert_eq!(b.time_until(t0, 1), Duration::MAX);
    }

    #[test]
    fn zero_rate_is_a_fixed_allowance() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0, 3, t0);
        assert!(b.try_take(t0, 3));
        let later = t0 + Duration::from_secs(1_000_000);
        assert!(!b.try_take(later, 1));
        assert_eq!(b.time_until(later, 1), Duration::MAX);
    }

    #[test]
    fn time_until_is_exact_and_rounds_up() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 10, t0);
        assert_eq!(b.time_until(t0, 10), Duration::ZERO);
        assert!(b.try_take(t0, 10));
        // One token per 333_333_333.3 ns: round up so the answer is never early.
        let wait = b.time_until(t0, 1);
        assert_eq!(wait, Duration::from_nanos(333_333_334));
        assert!(!b.try_take(t0 + wait - Duration::from_nanos(1), 1));
        assert!(b.try_take(t0 + wait, 1));
        // Three tokens take exactly one second from empty.
        let t1 = t0 + wait;
        let mut c = TokenBucket::new(3, 10, t1);
        assert!(c.try_take(t1, 10));
        assert_eq!(c.time_until(t1, 3), Duration::from_secs(1));
        // Partly refilled: only the deficit is waited for.
        assert_eq!(
            c.time_until(t1 + ms(500), 3),
            Duration::from_nanos(500_000_000)
        );
        // time_until does not change the bucket.
        assert_eq!(c.available(t1), 0);
    }

    #[test]
    fn time_until_matches_try_take_across_rates() {
        let t0 = Instant::now();
        for rate in [1u64, 7, 1000, 999_999_937, 3_000_000_000] {
            for n in [1u64, 2, 5] {
                let mut b = TokenBucket::new(rate, 5, t0);
                assert!(b.try_take(t0, 5));
                let wait = b.time_until(t0, n);
                assert!(wait > Duration::ZERO, "rate {rate} n {n}");
                if wait > Duration::from_nanos(1) {
                    let mut early = b.clone();
                    assert!(!early.try_take(t0 + wait - Duration::from_nanos(1), n));
                }
                assert!(b.try_take(t0 + wait, n), "rate {rate} n {n}");
            }
        }
    }

    #[test]
    fn no_drift_over_many_small_steps() {
        // 7 tokens/s refilled in 1 µs steps for 10 simulated minutes: each step
        // earns 7000 nano-tokens exactly, so nothing is lost to rounding.
        let t0 = Instant::now();
        let mut stepped = TokenBucket::new(7, 10_000, t0);
        assert!(stepped.try_take(t0, 10_000));
        let mut now = t0;
        let step = Duration::from_micros(1);
        let steps = 600_000_000u64;
        // Walking 6e8 steps is too slow for a unit test; walk 10^6 and jump the
        // rest in steps of 1 ms, which must agree just as exactly.
        for _ in 0..1_000_000 {
            now += step;
            assert!(!stepped.try_take(now, 10_000));
        }
        let rest = (steps - 1_000_000) / 1000;
        for _ in 0..rest {
            now += ms(1);
            stepped.refill(now);
        }
        assert_eq!(now - t0, Duration::from_secs(600));
        assert_eq!(stepped.available(now), 4200);
        assert_eq!(stepped.level, 4200 * SCALE);
        let mut once = TokenBucket::new(7, 10_000, t0);
        assert!(once.try_take(t0, 10_000));
        assert!(once.try_take(now, 4200));
        assert!(stepped.try_take(now, 4200));
        assert_eq!(once.level, 0);
        assert_eq!(stepped.level, 0);
    }

    #[test]
    fn sustained_rate_is_exact() {
        // Take one token whenever one is there, polling every 10 ms for 100 s
        // at 33/s: exactly burst + 33 × 100 pass.
        let t0 = Instant::now();
        let mut b = TokenBucket::new(33, 4, t0);
        let mut passed = 0u64;
        for i in 0..=10_000u64 {
            let now = t0 + ms(10 * i);
            while b.try_take(now, 1) {
                passed += 1;
            }
        }
        assert_eq!(passed, 4 + 33 * 100);
    }

    #[test]
    fn reconfigure_keeps_spent_tokens_and_caps_at_new_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 10, t0);
        assert!(b.try_take(t0, 8));
        b.reconfigure(100, 20, t0);
        assert_eq!(
            b.available(t0),
            2,
            "a reload does not hand out a free burst"
        );
        assert_eq!(b.rate(), 100);
        assert_eq!(b.burst(), 20);
        assert_eq!(b.available(t0 + ms(100)), 12);
        b.reconfigure(100, 1, t0 + ms(100));
        assert_eq!(b.available(t0 + ms(100)), 1);
        assert_eq!(b.available(t0 + Duration::from_secs(9)), 1);
    }
}
