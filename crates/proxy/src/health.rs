//! A shard's reconnect backoff: a server that fails is left alone for a
//! while by this shard.
//!
//! A failed connect or exchange marks the server down for a backoff delay that
//! grows by a factor with each consecutive failure, up to a cap. When the delay
//! has passed the next request is the probe; one success restores the server
//! completely. State is per shard, so shards learn independently (a server that
//! only fails under one shard's load is only avoided there); process-wide
//! health (active checks, outlier ejection) lives in the server crate.

use std::time::{Duration, Instant};

use shardgate_config::BackoffConfig;

use crate::Rng;

/// Capped exponential backoff with "equal jitter": the delay for attempt `n` is
/// uniform in `[cap/2, cap]` where `cap = min(max, base × factorⁿ)`. Half of it
/// is fixed so a dead server is never retried at once; the random half keeps
/// shards that saw the same outage from knocking on it in lockstep. (Full
/// jitter, uniform in `[0, cap]`, spreads more but may retry a dead server
/// immediately.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    /// ≥ 1.0, possibly infinite (see [`Backoff::new`]).
    factor: f64,
    max: Duration,
}

impl Backoff {
    /// A `factor` below 1 (or not a number) is taken as 1, and an infinite one
    /// goes straight to `max` after the first failure: config validation
    /// refuses both, and nothing here may panic on them.
    pub fn new(base: Duration, factor: f64, max: Duration) -> Self {
        let factor = if factor.is_nan() || factor < 1.0 {
            1.0
        } else {
            factor
        };
        Backoff { base, factor, max }
    }

    pub fn from_config(c: &BackoffConfig) -> Self {
        Self::new(c.base, c.factor, c.cap)
    }

    /// The upper bound for `attempt` (0-based): monotonic in `attempt` and never
    /// above `max`. Computed in f64 nanoseconds and compared with `max` before
    /// it is turned back into a `Duration`, so no step can overflow or panic
    /// (`Duration` multiplication panics; `powi` saturates to infinity).
    pub fn cap(&self, attempt: u32) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        let exp = i32::try_from(attempt).unwrap_or(i32::MAX);
        let grown = (self.base.as_nanos() as f64 * self.factor.powi(exp)).round();
        let max = self.max.as_nanos();
        // `as` saturates; values ≥ max (infinity included) give max.
        if grown >= max as f64 {
            return from_nanos(max);
        }
        from_nanos((grown as u128).min(max))
    }

    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let cap = self.cap(attempt).as_nanos();
        let half = cap / 2;
        let spread = cap - half;
        // `as` saturates, and the `min` keeps rounding from exceeding the cap.
        let extra = ((spread as f64) * rng.next_f64()) as u128;
        from_nanos(half + extra.min(spread))
    }
}

/// Inverse of `Duration::as_nanos` for values that came from a `Duration`.
fn from_nanos(n: u128) -> Duration {
    const NANOS: u128 = 1_000_000_000;
    let secs = u64::try_from(n / NANOS).unwrap_or(u64::MAX);
    // The remainder is below 10⁹, so it fits.
    let nanos = u32::try_from(n % NANOS).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// One server's reconnect backoff as seen by one shard.
#[derive(Debug, Clone, Default)]
pub struct ServerHealth {
    failures: u32,
    down_until: Option<Instant>,
}

impl ServerHealth {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_available(&self, now: Instant) -> bool {
        self.down_until.is_none_or(|t| now >= t)
    }

    /// When the server becomes eligible again, if it is backing off.
    pub fn down_until(&self) -> Option<Instant> {
        self.down_until
    }

    /// Marks the server down for `backoff.delay(consecutive failures - 1)`.
    pub fn record_failure(&mut self, now: Instant, backoff: &Backoff, rng: &mut Rng) {
        let attempt = self.failures;
        self.failures = self.failures.saturating_add(1);
        let mut delay = backoff.delay(attempt, rng);
        // `Instant + Duration` panics on overflow; shorten absurd delays until the
        // deadline is representable (terminates: `now + 0` always is).
        let until = loop {
            if let Some(t) = now.checked_add(delay) {
                break t;
            }
            delay /= 2;
        };
        self.down_until = Some(until);
    }

    pub fn record_success(&mut self) {
        self.failures = 0;
        self.down_until = None;
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn cap_doubles_then_saturates() {
        let b = Backoff::new(100 * MS, 2.0, 5000 * MS);
        let caps: Vec<u128> = (0..9).map(|a| b.cap(a).as_millis()).collect();
        assert_eq!(caps, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        for a in [64, 127, 128, 1000, u32::MAX] {
            assert_eq!(b.cap(a), 5000 * MS, "attempt {a}");
        }
    }

    #[test]
    fn cap_grows_by_the_factor() {
        let b = Backoff::new(100 * MS, 1.6, 30_000 * MS);
        let caps: Vec<Duration> = (0..5).map(|a| b.cap(a)).collect();
        let want = [
            100_000_000u64,
            160_000_000,
            256_000_000,
            409_600_000,
            655_360_000,
        ];
        assert_eq!(caps, want.map(Duration::from_nanos));
        // 100 ms × 1.6¹² ≈ 28.1 s, × 1.6¹³ ≈ 45 s → capped.
        assert!(b.cap(12) < 30_000 * MS && b.cap(12) > 28_000 * MS);
        assert_eq!(b.cap(13), 30_000 * MS);
        assert_eq!(b.cap(u32::MAX), 30_000 * MS);
        // Factor 1: a constant delay.
        let flat = Backoff::new(250 * MS, 1.0, 30_000 * MS);
        assert!((0..50).all(|a| flat.cap(a) == 250 * MS));
    }

    #[test]
    fn absurd_factors_do_not_panic() {
        for factor in [f64::NAN, -3.0, 0.0, 0.5, f64::INFINITY, f64::MAX, 1e300] {
            let b = Backoff::new(100 * MS, factor, 10_000 * MS);
            let mut prev = Duration::ZERO;
            for a in [0, 1, 2, 10, 1000, u32::MAX] {
                let c = b.cap(a);
                assert!(c >= prev && c <= 10_000 * MS, "{factor} {a}: {c:?}");
                prev = c;
            }
            // Below 1 (or NaN) is taken as 1: never shrinking.
            assert!(b.cap(u32::MAX) >= 100 * MS, "{factor}");
        }
        let b = Backoff::new(Duration::MAX, f64::INFINITY, Duration::MAX);
        assert_eq!(b.cap(0), Duration::MAX);
        assert_eq!(b.cap(u32::MAX), Duration::MAX);
    }

    #[test]
    fn cap_is_monotonic_and_never_overflows() {
        let b = Backoff::new(Duration::MAX, 2.0, Duration::MAX);
        assert_eq!(b.cap(0), Duration::MAX);
        assert_eq!(b.cap(u32::MAX), Duration::MAX);
        let b = Backoff::new(Duration::from_nanos(3), 2.0, Duration::MAX);
        let mut prev = Duration::ZERO;
        for a in 0..200 {
            let c = b.cap(a);
            assert!(c >= prev, "attempt {a}");
            prev = c;
        }
        assert_eq!(prev, Duration::MAX);
        // base above max: capped from the first attempt.
        let b = Backoff::new(10 * MS, 2.0, 2 * MS);
        assert_eq!(b.cap(0), 2 * MS);
        assert_eq!(
            Backoff::new(Duration::ZERO, 2.0, 5 * MS).cap(30),
            Duration::ZERO
        );
    }

    #[test]
    fn delay_within_equal_jitter_bounds() {
        let b = Backoff::new(100 * MS, 2.0, 5000 * MS);
        let mut rng = Rng::new(3);
        for attempt in 0..12 {
            let cap = b.cap(attempt);
            let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
            for _ in 0..500 {
                let d = b.delay(attempt, &mut rng);
                assert!(
                    d >= cap / 2 && d <= cap,
                    "attempt {attempt}: {d:?} vs {cap:?}"
                );
                lo = lo.min(d);
                hi = hi.max(d);
            }
            // The random half is actually used.
            assert!(hi - lo > cap / 4, "attempt {attempt}: {lo:?}..{hi:?}");
        }
        let huge = Backoff::new(Duration::MAX, 2.0, Duration::MAX);
        assert!(huge.delay(u32::MAX, &mut rng) >= Duration::MAX / 2);
    }

    #[test]
    fn failure_marks_down_for_growing_delays_success_resets() {
        let b = Backoff::new(100 * MS, 2.0, 1000 * MS);
        let mut rng = Rng::new(11);
        let mut h = ServerHealth::new();
        let t0 = Instant::now();
        assert!(h.is_available(t0));
        assert_eq!(h.down_until(), None);

        h.record_failure(t0, &b, &mut rng);
        assert_eq!(h.consecutive_failures(), 1);
        assert!(!h.is_available(t0));
        assert!(!h.is_available(t0 + 49 * MS));
        assert!(h.is_available(t0 + 100 * MS));

        let t1 = t0 + 100 * MS;
        h.record_failure(t1, &b, &mut rng);
        assert_eq!(h.consecutive_failures(), 2);
        assert!(
            !h.is_available(t1 + 99 * MS),
            "second failure waits ≥ 100 ms"
        );
        assert!(h.is_available(t1 + 200 * MS));

        for _ in 0..20 {
            h.record_failure(t1, &b, &mut rng);
        }
        assert!(!h.is_available(t1 + 499 * MS), "capped delay is ≥ max/2");
        assert!(h.is_available(t1 + 1000 * MS), "and ≤ max");

        h.record_success();
        assert_eq!(h.consecutive_failures(), 0);
        assert!(h.is_available(t1));
    }

    #[test]
    fn absurd_backoff_does_not_panic() {
        let b = Backoff::new(Duration::MAX, 2.0, Duration::MAX);
        let mut rng = Rng::new(1);
        let mut h = ServerHealth::new();
        let t0 = Instant::now();
        h.record_failure(t0, &b, &mut rng);
        assert!(!h.is_available(t0 + Duration::from_secs(1 << 30)));
    }
}
