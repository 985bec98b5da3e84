//! The retry budget of one upstream on one shard, Envoy-style: retries may
//! keep at most `percent` of the upstream's active requests busy, and beyond
//! that `min_per_second` retries per second are always let through, so a
//! quiet upstream still gets its retries. Under a full outage every request
//! fails and wants a retry; the budget keeps the retries to a fraction of the
//! traffic instead of multiplying it by `attempts`.
//!
//! Per shard, like pools and balancers: no counter is shared between threads,
//! so N shards allow up to N × `min_per_second` retries per second, and each
//! shard compares its own retries with its own active requests. The state is
//! carried over a reload by upstream name (the requests it counts may belong
//! to either generation).

use std::cell::Cell;
use std::time::{Duration, Instant};

use shardgate_config::RetryBudgetConfig;

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct RetryBudget {
    /// Requests to the upstream in flight on this shard.
    active: Cell<u32>,
    /// Of those, the ones that were sent again at least once.
    retrying: Cell<u32>,
    /// Start of the current one-second window of the minimum, and the
    /// retries it let through so far.
    window: Cell<Option<Instant>>,
    in_window: Cell<u32>,
}

impl RetryBudget {
    /// A request to the upstream starts.
    pub fn enter(&self) {
        self.active.set(self.active.get().saturating_add(1));
    }

    /// A request ends; `retried`: it was let through at least once.
    pub fn leave(&self, retried: bool) {
        self.active.set(self.active.get().saturating_sub(1));
        if retried {
            self.retrying.set(self.retrying.get().saturating_sub(1));
        }
    }

    /// Whether one more retry may be sent, and if so it is counted.
    /// `retrying`: the asking request was let through before (it is counted
    /// among the retrying requests already).
    pub fn allow(&self, cfg: &RetryBudgetConfig, retrying: bool) -> bool {
        let others = u64::from(self.retrying.get()).saturating_sub(u64::from(retrying));
        let within_share =
            (others + 1) * 100 <= u64::from(self.active.get()) * u64::from(cfg.percent);
        let allowed = within_share || self.take_minimum(cfg.min_per_second, Instant::now());
        if allowed && !retrying {
            self.retrying.set(self.retrying.get().saturating_add(1));
        }
        allowed
    }

    /// One of the `per_second` retries of the current window, if any is left.
    fn take_minimum(&self, per_second: u32, now: Instant) -> bool {
        let fresh = self
            .window
            .get()
            .is_none_or(|start| now.saturating_duration_since(start) >= WINDOW);
        if fresh {
            self.window.set(Some(now));
            self.in_window.set(0);
        }
        if self.in_window.get() < per_second {
            self.in_window.set(self.in_window.get() + 1);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(percent: u32, min_per_second: u32) -> RetryBudgetConfig {
        RetryBudgetConfig {
            percent,
            min_per_second,
        }
    }

    #[test]
    fn retries_stay_within_the_share_of_active_requests() {
        let b = RetryBudget::default();
        (0..10).for_each(|_| b.enter());
        let c = cfg(20, 0);
        assert!(b.allow(&c, false));
        assert!(b.allow(&c, false));
        // 2 of 10 retrying: a third would be 30 %.
        assert!(!b.allow(&c, false));
        // A request already retrying asks again: it stays one of the two.
        assert!(b.allow(&c, true));
        b.leave(true);
        b.enter();
        assert!(b.allow(&c, false));
        assert!(!b.allow(&c, false));
    }

    #[test]
    fn the_minimum_per_second_lets_some_through_when_the_share_is_zero() {
        let b = RetryBudget::default();
        b.enter();
        let c = cfg(20, 3);
        // 20 % of one request is no retry at all; the minimum gives three.
        let now = Instant::now();
        assert!(b.take_minimum(3, now));
        assert!(b.allow(&c, false));
        assert!(b.allow(&c, false));
        assert!(!b.allow(&c, false));
        // A new second, three more.
        assert!(b.take_minimum(3, now + WINDOW));
        assert!(b.take_minimum(3, now + WINDOW));
        assert!(b.take_minimum(3, now + WINDOW));
        assert!(!b.take_minimum(3, now + WINDOW + Duration::from_millis(999)));
        assert!(
            !RetryBudget::default().allow(&cfg(100, 0), false),
            "no active request"
        );
    }
}
