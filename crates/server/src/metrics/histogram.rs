//! A fixed-bucket histogram of atomics. Recording is a bucket search and two
//! relaxed atomic adds: no allocation and no lock, unlike exporters that keep raw
//! samples until the next scrape. Only the shard that owns a handle writes it; the
//! admin thread reads it when rendering.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::HistogramFn;

/// Upper bounds in seconds, chosen for request and connection lifetimes on a
/// proxy: 50 µs up to 5 minutes.
pub const BOUNDS: [f64; 20] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

pub struct FixedHistogram {
    /// Non-cumulative counts; the last slot is the +Inf bucket.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Default for FixedHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl FixedHistogram {
    /// Cumulative bucket counts (Prometheus `le` semantics), then count and sum.
    pub fn snapshot(&self) -> ([u64; BOUNDS.len() + 1], u64, f64) {
        let mut out = [0u64; BOUNDS.len() + 1];
        let mut acc = 0u64;
        for (o, b) in out.iter_mut().zip(self.buckets.iter()) {
            acc += b.load(Ordering::Relaxed);
            *o = acc;
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (out, self.count.load(Ordering::Relaxed), sum)
    }
}

impl HistogramFn for FixedHistogram {
    fn record(&self, value: f64) {
        let v = if value.is_finite() && value > 0.0 {
            value
        } else {
            0.0
        };
        let idx = BOUNDS.partition_point(|b| *b < v);
        if let Some(b) = self.buckets.get(idx) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((v * 1e9) as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inclusive() {
        let h = FixedHistogram::default();
        h.record(0.00005); // exactly on the first bound: le="0.00005"
        h.record(0.0003);
        h.record(1000.0);
        h.record(f64::NAN);
        let (b, count, sum) = h.snapshot();
        assert_eq!(count, 4);
        assert_eq!(
            b[0], 2,
            "first bound holds 0.00005 and the NaN clamped to 0"
        );
        assert_eq!(b[3], 3, "0.0003 ≤ 0.0005");
        assert_eq!(b[BOUNDS.len() - 1], 3);
        assert_eq!(b[BOUNDS.len()], 4, "+Inf holds everything");
        assert!((sum - 1000.00035).abs() < 1e-6);
    }
}
