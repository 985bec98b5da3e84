//! A shard's once-a-second care of its upstream servers (from the pool
//! eviction timer, never per request): idle connections past their deadline
//! close and the pools are reported to the metrics; the idle connections of a
//! server marked down or ejected close too (unless panic keeps it in use);
//! and the shard's pool and backoff figures are published for `/upstreams`.

use std::time::Instant;

use super::build::UpstreamState;
use super::shared::millis;

impl UpstreamState {
    pub fn tend(&self, shard: usize, now: Instant) {
        let now_ms = millis(now);
        let mut panic = None;
        for s in &self.servers {
            if s.shared.maybe_unhealthy()
                && !s.shared.is_healthy(now_ms)
                && !*panic.get_or_insert_with(|| self.in_panic(now_ms))
            {
                s.pool.borrow_mut().clear_idle();
            }
            s.tend(now);
            s.publish(shard);
        }
        if let Some(a) = &self.adaptive {
            a.publish();
        }
    }
}
