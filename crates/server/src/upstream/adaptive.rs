//! `[upstream.adaptive_concurrency]` on one shard: the Gradient2 limiter
//! (`shardgate_proxy::Gradient2`, pure) behind a `RefCell`, its gauges, and
//! the per-request [`Slot`] that admits a request and, when it ends, gives
//! the limiter its RTT sample (or none). Kept across reloads by upstream
//! name, so requests of the old generation release into the same state.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use shardgate_config::AdaptiveConcurrencyConfig;
use shardgate_proxy::{is_sample, Gradient2, Permit};

use crate::metrics::flow::AdaptiveGauges;

pub struct Adaptive {
    limiter: RefCell<Gradient2>,
    /// The answer to a request over the limit.
    status: Cell<u16>,
    gauges: AdaptiveGauges,
}

impl Adaptive {
    pub fn new(cfg: AdaptiveConcurrencyConfig, shard: usize, upstream: &str, seed: u64) -> Self {
        Adaptive {
            limiter: RefCell::new(Gradient2::new(cfg, seed)),
            status: Cell::new(cfg.status),
            gauges: AdaptiveGauges::new(shard, upstream),
        }
    }

    /// A reload kept the upstream and the table (changed or not).
    pub fn reconfigure(&self, cfg: AdaptiveConcurrencyConfig) {
        if let Ok(mut l) = self.limiter.try_borrow_mut() {
            l.reconfigure(cfg);
        }
        self.status.set(cfg.status);
    }

    pub fn status(&self) -> u16 {
        self.status.get()
    }

    /// Admits one request, or None when the limit is reached.
    pub fn try_acquire(&self) -> Option<Slot<'_>> {
        let permit = self.limiter.try_borrow_mut().ok()?.try_acquire()?;
        Some(Slot {
            owner: self,
            permit: Some(permit),
            sent: None,
            sample: None,
        })
    }

    /// From the shard's 1 s tick.
    pub fn publish(&self) {
        if let Ok(l) = self.limiter.try_borrow() {
            self.gauges.limit.set(f64::from(l.limit()));
            self.gauges.in_flight.set(f64::from(l.in_flight()));
        }
    }
}

impl Drop for Adaptive {
    fn drop(&mut self) {
        // Removed by a reload: its shard stops showing a limit.
        self.gauges.limit.set(0.0);
        self.gauges.in_flight.set(0.0);
    }
}

/// One request's admission under the limit, released when dropped: with
/// the RTT of its last attempt when the origin answered it with a status
/// that counts (see `shardgate_proxy::is_sample`), else with none.
pub struct Slot<'a> {
    owner: &'a Adaptive,
    permit: Option<Permit>,
    /// When the last attempt's request was sent.
    sent: Option<Instant>,
    sample: Option<(Duration, Instant)>,
}

impl Slot<'_> {
    /// The request (head and body) of an attempt went out.
    pub fn sent(&mut self) {
        self.sent = Some(Instant::now());
        self.sample = None;
    }

    /// The attempt's final response head arrived with `status`.
    pub fn answered(&mut self, status: u16) {
        let Some(sent) = self.sent.take() else {
            return;
        };
        if is_sample(status) {
            let now = Instant::now();
            self.sample = Some((now.saturating_duration_since(sent), now));
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let (Some(p), Ok(mut l)) = (self.permit.take(), self.owner.limiter.try_borrow_mut()) {
            l.release(p, self.sample);
        }
    }
}
