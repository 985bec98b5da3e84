//! Peak-EWMA latency of one server (Finagle's and Linkerd's, for `p2c`):
//! how long the server takes to start answering, reacting at once when it
//! gets slower and slowly when it gets faster.

use std::time::{Duration, Instant};

/// Time constant of the average: a sample's weight halves in ≈ 7 s, and a
/// server nothing was heard from for 10 s counts ≈ 37 % of its last
/// estimate (Linkerd's and Finagle's value).
pub const DECAY: Duration = Duration::from_secs(10);

/// The estimate of a server nothing was heard from yet: moderate, so a new
/// server is tried soon but not flooded (Linkerd's default RTT).
pub const NEUTRAL: Duration = Duration::from_millis(30);

/// What a `429 Too Many Requests` or `503 Service Unavailable` counts as at
/// least: a server that refuses quickly must not look fast.
pub const PENALTY: Duration = Duration::from_secs(1);

/// The estimate, in seconds, and when it was last updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakEwma {
    secs: f64,
    at: Option<Instant>,
}

impl Default for PeakEwma {
    /// Neutral and not decaying (a server without a clock of its own).
    fn default() -> Self {
        PeakEwma {
            secs: NEUTRAL.as_secs_f64(),
            at: None,
        }
    }
}

impl PeakEwma {
    /// A server first seen at `now`: neutral, decaying from then on.
    pub fn new(now: Instant) -> Self {
        PeakEwma {
            secs: NEUTRAL.as_secs_f64(),
            at: Some(now),
        }
    }

    /// The estimate at `now`, in seconds. Time without news counts as fast
    /// answers (the estimate decays toward zero), so a server that was
    /// avoided after a slow spell is tried again eventually.
    pub fn estimate(&self, now: Instant) -> f64 {
        self.secs * self.kept(now)
    }

    /// A response head `ttfb` after the attempt started, with `status`.
    pub fn observe(&mut self, ttfb: Duration, status: u16, now: Instant) {
        let sample = if penalised(status) {
            ttfb.max(PENALTY)
        } else {
            ttfb
        };
        let sample = sample.as_secs_f64();
        let kept = self.kept(now);
        let decayed = self.secs * kept;
        // Peak: a slower answer replaces the estimate at once; a faster one
        // moves it by the weight the elapsed time earns (a time-based EWMA,
        // so a burst of fast answers cannot wash out a slow one at once).
        self.secs = if sample > decayed {
            sample
        } else {
            decayed + sample * (1.0 - kept)
        };
        self.at = Some(now);
    }

    /// An attempt that ended without a response head `elapsed` after it
    /// started (reset, timeout, client gone): it raises the estimate when
    /// it took longer, and never lowers it (a quick failure says nothing
    /// good about the server).
    pub fn observe_unanswered(&mut self, elapsed: Duration, now: Instant) {
        let sample = elapsed.as_secs_f64();
        if sample > self.estimate(now) {
            self.secs = sample;
            self.at = Some(now);
        }
    }

    /// The share of the estimate that survives since its last update.
    fn kept(&self, now: Instant) -> f64 {
        match self.at {
            Some(at) => {
                (-now.saturating_duration_since(at).as_secs_f64() / DECAY.as_secs_f64()).exp()
            }
            None => 1.0,
        }
    }
}

/// Statuses that say "too busy": counted as slow whatever their timing.
fn penalised(status: u16) -> bool {
    status == 429 || status == 503
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_new_server_is_neutral_and_decays_without_news() {
        let t0 = Instant::now();
        let e = PeakEwma::new(t0);
        assert!(close(e.estimate(t0), 0.030));
        assert!(close(e.estimate(t0 + DECAY), 0.030 * (-1f64).exp()));
        assert!(e.estimate(t0 + 10 * DECAY) < 0.000_01);
        assert!(close(PeakEwma::default().estimate(t0 + DECAY), 0.030));
    }

    #[test]
    fn a_slower_answer_counts_at_once() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(t0);
        e.observe(5 * MS, 200, t0 + MS);
        e.observe(400 * MS, 200, t0 + 2 * MS);
        assert!(close(e.estimate(t0 + 2 * MS), 0.4));
    }

    #[test]
    fn a_faster_answer_moves_the_estimate_by_the_time_elapsed() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(t0);
        e.observe(Duration::from_secs(1), 200, t0);
        // One time constant later: e⁻¹ of the old value, the rest the sample.
        e.observe(10 * MS, 200, t0 + DECAY);
        let k = (-1f64).exp();
        assert!(close(e.estimate(t0 + DECAY), k + 0.010 * (1.0 - k)));
        // A burst of fast answers barely moves it.
        let mut b = PeakEwma::new(t0);
        b.observe(Duration::from_secs(1), 200, t0);
        for i in 1..=100 {
            b.observe(MS, 200, t0 + i * Duration::from_micros(10));
        }
        assert!(b.estimate(t0 + MS) > 0.99);
    }

    #[test]
    fn steady_answers_converge_to_their_latency() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(t0);
        e.observe(Duration::from_secs(2), 200, t0);
        let mut now = t0;
        for _ in 0..1000 {
            now += 100 * MS;
            e.observe(20 * MS, 200, now);
        }
        assert!(
            (e.estimate(now) - 0.020).abs() < 0.001,
            "{}",
            e.estimate(now)
        );
    }

    #[test]
    fn fast_429_and_503_count_as_slow() {
        let t0 = Instant::now();
        for status in [429, 503] {
            let mut e = PeakEwma::new(t0);
            e.observe(MS, status, t0 + MS);
            assert!(
                close(e.estimate(t0 + MS), PENALTY.as_secs_f64()),
                "{status}"
            );
        }
        // A slower refusal counts as slow as it was; other statuses as timed.
        let mut e = PeakEwma::new(t0);
        e.observe(Duration::from_secs(3), 503, t0 + MS);
        assert!(close(e.estimate(t0 + MS), 3.0));
        for status in [200, 404, 500, 502] {
            let mut e = PeakEwma::new(t0);
            e.observe(Duration::from_secs(2), 200, t0);
            e.observe(MS, status, t0 + MS);
            assert!(e.estimate(t0 + MS) < 2.0, "{status}");
        }
    }

    #[test]
    fn an_unanswered_attempt_only_raises_the_estimate() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(t0);
        e.observe_unanswered(MS, t0 + MS);
        assert!(close(e.estimate(t0 + MS), 0.030 * (-0.001f64 / 10.0).exp()));
        e.observe_unanswered(Duration::from_secs(5), t0 + 2 * MS);
        assert!(close(e.estimate(t0 + 2 * MS), 5.0));
    }
}
