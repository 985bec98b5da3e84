//! One sample window of the adaptive limiter: when it started, how many
//! samples came in, a fixed reservoir of them for the median, and the most
//! requests that were in flight meanwhile. Fixed size: recording a sample
//! never allocates.

use std::time::{Duration, Instant};

use crate::rng::Rng;

/// Samples kept per window. A uniform reservoir of 64 gives the median of
/// any number of samples within a few percentiles, for 512 bytes per
/// upstream per shard.
pub const RESERVOIR: usize = 64;

pub struct Window {
    start: Option<Instant>,
    /// Samples seen (the reservoir holds at most [`RESERVOIR`] of them).
    count: u32,
    reservoir: [u64; RESERVOIR],
    /// The most requests in flight at once since the window started.
    pub peak_in_flight: u32,
}

impl Window {
    pub fn new(in_flight: u32) -> Self {
        Window {
            start: None,
            count: 0,
            reservoir: [0; RESERVOIR],
            peak_in_flight: in_flight,
        }
    }

    /// Starts over (the requests in flight now are the new peak).
    pub fn reset(&mut self, in_flight: u32) {
        *self = Window::new(in_flight);
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Time since the window's first sample.
    pub fn elapsed(&self, now: Instant) -> Duration {
        self.start
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// Records one RTT (reservoir sampling, Vitter's algorithm R).
    pub fn add(&mut self, rtt: Duration, now: Instant, rng: &mut Rng) {
        if self.start.is_none() {
            self.start = Some(now);
        }
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        let seen = self.count as usize;
        self.count = self.count.saturating_add(1);
        let slot = if seen < RESERVOIR {
            seen
        } else {
            (rng.next_u64() % (seen as u64 + 1)) as usize
        };
        if let Some(s) = self.reservoir.get_mut(slot) {
            *s = nanos;
        }
    }

    /// The median RTT of the window's samples (None: no sample).
    pub fn median(&self) -> Option<Duration> {
        let n = (self.count as usize).min(RESERVOIR);
        let mut kept = self.reservoir;
        let kept = kept.get_mut(..n)?;
        if kept.is_empty() {
            return None;
        }
        let mid = kept.len() / 2;
        let (_, m, _) = kept.select_nth_unstable(mid);
        Some(Duration::from_nanos(*m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_few_and_of_many_samples() {
        let mut rng = Rng::new(1);
        let now = Instant::now();
        let mut w = Window::new(0);
        assert_eq!(w.median(), None);
        for ms in [5, 1, 3] {
            w.add(Duration::from_millis(ms), now, &mut rng);
        }
        assert_eq!(w.median(), Some(Duration::from_millis(3)));
        // 10 000 samples, 1..=10 000 µs in random order: the reservoir's
        // median lands near 5 000 µs.
        w.reset(0);
        let mut order: Vec<u64> = (1..=10_000).collect();
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for us in order {
            w.add(Duration::from_micros(us), now, &mut rng);
        }
        assert_eq!(w.count(), 10_000);
        let m = w.median().unwrap().as_micros();
        assert!((3_000..=7_000).contains(&m), "{m}");
    }

    #[test]
    fn elapsed_counts_from_the_first_sample() {
        let mut rng = Rng::new(1);
        let t0 = Instant::now();
        let mut w = Window::new(4);
        assert_eq!(w.elapsed(t0 + Duration::from_secs(9)), Duration::ZERO);
        w.add(Duration::from_millis(1), t0, &mut rng);
        assert_eq!(
            w.elapsed(t0 + Duration::from_millis(250)),
            Duration::from_millis(250)
        );
        assert_eq!(w.peak_in_flight, 4);
    }
}
