//! A server's load as this shard's balancer sees it (requests in flight,
//! peak-EWMA latency), and the guard that counts one attempt in it.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardgate_proxy::{Load, LoadUse, PeakEwma};

/// Kept only for the load-aware policies (`least_request`, `p2c`); a reload
/// that keeps the server keeps its load (busy connections still count in
/// it).
pub struct ServerLoad {
    in_flight: Cell<u32>,
    latency: Cell<PeakEwma>,
    /// Attempts keep their start as an offset from this, in 8 bytes rather
    /// than an `Instant`'s 16, so an [`UpConn`] stays small to move.
    ///
    /// [`UpConn`]: super::UpConn
    epoch: Instant,
}

impl ServerLoad {
    pub(super) fn new(now: Instant) -> Self {
        ServerLoad {
            in_flight: Cell::new(0),
            latency: Cell::new(PeakEwma::new(now)),
            epoch: now,
        }
    }

    /// `at` as nanoseconds since the epoch (0 for an earlier instant).
    fn offset(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The time from the offset `started` to `now`.
    fn since(&self, started: u64, now: Instant) -> Duration {
        Duration::from_nanos(self.offset(now).saturating_sub(started))
    }

    pub fn get(&self) -> Load {
        Load {
            in_flight: self.in_flight.get(),
            latency: self.latency.get(),
        }
    }

    fn observe(&self, f: impl FnOnce(&mut PeakEwma)) {
        let mut e = self.latency.get();
        f(&mut e);
        self.latency.set(e);
    }
}

/// One attempt counted in its server's load from the pick until its
/// connection goes back to the pool (or to a waiting request) or closes: it
/// lives in the [`UpConn`] and is dropped with it on every path, errors and
/// tunnels included, or on the stack while the connection is opened or
/// waited for. Inert for policies that read no load, so they pay nothing.
///
/// [`UpConn`]: super::UpConn
pub struct Attempt(Option<Counted>);

struct Counted {
    load: Rc<ServerLoad>,
    /// See [`ServerLoad::epoch`].
    started: u64,
    /// Also feed the server's latency estimate (`p2c`).
    latency: bool,
    answered: bool,
}

impl Attempt {
    pub(super) fn none() -> Self {
        Attempt(None)
    }

    pub(super) fn start(load: &Rc<ServerLoad>, uses: LoadUse, now: Instant) -> Self {
        if uses == LoadUse::Nothing {
            return Attempt(None);
        }
        load.in_flight.set(load.in_flight.get().saturating_add(1));
        Attempt(Some(Counted {
            load: load.clone(),
            started: load.offset(now),
            latency: uses == LoadUse::InFlightAndLatency,
            answered: false,
        }))
    }

    /// The final response head arrived with `status`: the latency sample
    /// (a `429` or `503` counts as the penalty, see `PeakEwma::observe`).
    pub(super) fn answered(&mut self, status: u16) {
        let Some(c) = self.0.as_mut().filter(|c| c.latency && !c.answered) else {
            return;
        };
        c.answered = true;
        let now = Instant::now();
        let ttfb = c.load.since(c.started, now);
        c.load.observe(|e| e.observe(ttfb, status, now));
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let Some(c) = self.0.take() else {
            return;
        };
        let n = &c.load.in_flight;
        n.set(n.get().saturating_sub(1));
        if c.latency && !c.answered {
            let now = Instant::now();
            let elapsed = c.load.since(c.started, now);
            c.load.observe(|e| e.observe_unanswered(elapsed, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> Rc<ServerLoad> {
        Rc::new(ServerLoad::new(Instant::now()))
    }

    #[test]
    fn counts_in_flight_until_dropped() {
        let s = load();
        let now = Instant::now();
        let a = Attempt::start(&s, LoadUse::InFlight, now);
        let b = Attempt::start(&s, LoadUse::InFlight, now);
        assert_eq!(s.get().in_flight, 2);
        drop(a);
        assert_eq!(s.get().in_flight, 1);
        drop(b);
        assert_eq!(s.get().in_flight, 0);
    }

    #[test]
    fn an_attempt_is_small() {
        // It travels inside every upstream connection a request holds.
        assert_eq!(std::mem::size_of::<Attempt>(), 24);
    }

    #[test]
    fn inert_for_policies_without_load() {
        let s = load();
        let mut a = Attempt::start(&s, LoadUse::Nothing, Instant::now());
        assert_eq!(s.get().in_flight, 0);
        assert_eq!(Rc::strong_count(&s), 1);
        a.answered(503);
        drop(a);
        assert_eq!(s.get().in_flight, 0);
    }

    #[test]
    fn latency_only_for_p2c() {
        let s = load();
        let before = s.get().latency;
        let mut a = Attempt::start(&s, LoadUse::InFlight, Instant::now());
        a.answered(429);
        drop(a);
        assert_eq!(s.get().latency, before);
        let mut a = Attempt::start(&s, LoadUse::InFlightAndLatency, Instant::now());
        a.answered(429);
        let now = Instant::now();
        assert!(
            s.get().latency.estimate(now) > 0.9,
            "a fast 429 counts as slow"
        );
        drop(a);
        // Answered once: the drop adds no second sample.
        assert!(s.get().latency.estimate(Instant::now()) < 1.0);
    }

    #[test]
    fn an_unanswered_attempt_raises_the_estimate_by_its_time() {
        let started = Instant::now() - Duration::from_secs(3);
        let s = Rc::new(ServerLoad::new(started));
        drop(Attempt::start(
            &s,
            LoadUse::InFlightAndLatency,
            started + Duration::from_secs(1),
        ));
        assert!(s.get().latency.estimate(Instant::now()) >= 1.9);
        assert_eq!(s.get().in_flight, 0);
    }
}
