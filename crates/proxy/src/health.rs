//! Passive health: servers that fail are left alone for a while.
//!
//! There are no probes: a failed connect or exchange marks the server down for a
//! backoff delay that doubles with each consecutive failure up to a cap. When the
//! delay has passed the next request is the probe; one success restores the server
//! completely. State is per shard, so shards learn independently (a server that
//! only fails under one shard's load is only avoided there).

use std::time::{Duration, Instant};

use crate::Rng;

/// Capped exponential backoff with "equal jitter": the delay for attempt `n` is
/// uniform in `[cap/2, cap]` where `cap = min(max, base × 2ⁿ)`. Half of it is fixed
/// so a dead server is never retried at once; the random half keeps shards that
/// saw the same outage from knocking on it in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// The upper bound for `attempt` (0-based): monotonic in `attempt` and never
    /// above `max`. Computed in nanoseconds with an overflow check instead of
    /// `Duration` multiplication, which panics.
    pub fn cap(&self, attempt: u32) -> Duration {
        let max = self.max.as_nanos();
        let base = self.base.as_nanos();
        let cap = if attempt >= 128 || base > (max >> attempt) {
            max
        } else {
            (base << attempt).min(max)
        };
        from_nanos(cap)
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

/// One server's passive health as seen by one shard.
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
        let b = Backoff::new(100 * MS, 5000 * MS);
        let caps: Vec<u128> = (0..9).map(|a| b.cap(a).as_millis()).collect();
        assert_eq!(caps, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        for a in [64, 127, 128, 1000, u32::MAX] {
            assert_eq!(b.cap(a), 5000 * MS, "attempt {a}");
        }
    }

    #[test]
    fn cap_is_monotonic_and_never_overflows() {
        let b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.cap(0), Duration::MAX);
        assert_eq!(b.cap(u32::MAX), Duration::MAX);
        let b = Backoff::new(Duration::from_nanos(3), Duration::MAX);
        let mut prev = Duration::ZERO;
        for a in 0..200 {
            let c = b.cap(a);
            assert!(c >= prev, "attempt {a}");
            prev = c;
        }
        assert_eq!(prev, Duration::MAX);
        // base above max: capped from the first attempt.
        let b = Backoff::new(10 * MS, 2 * MS);
        assert_eq!(b.cap(0), 2 * MS);
        assert_eq!(Backoff::new(Duration::ZERO, 5 * MS).cap(30), Duration::ZERO);
    }

    #[test]
    fn delay_within_equal_jitter_bounds() {
        let b = Backoff::new(100 * MS, 5000 * MS);
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
        let huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert!(huge.delay(u32::MAX, &mut rng) >= Duration::MAX / 2);
    }

    #[test]
    fn failure_marks_down_for_growing_delays_success_resets() {
        let b = Backoff::new(100 * MS, 1000 * MS);
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
        let b = Backoff::new(Duration::MAX, Duration::MAX);
        let mut rng = Rng::new(1);
        let mut h = ServerHealth::new();
        let t0 = Instant::now();
        h.record_failure(t0, &b, &mut rng);
        assert!(!h.is_available(t0 + Duration::from_secs(1 << 30)));
    }
}
