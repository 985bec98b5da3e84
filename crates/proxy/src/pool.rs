//! Per-shard keep-alive pool bookkeeping for one upstream server.
//!
//! The pool is generic over the connection type so the server crate can store its
//! monoio streams here while tests store integers. It owns idle connections only;
//! busy ones live with the request that uses them and are merely counted.
//!
//! Accounting rule: the caller reports `on_open` for every connection it opens and
//! `on_close` for every connection it closes *while holding it*. A connection that
//! goes into `checkin` stops being the caller's business: if the pool drops it (it
//! expired, or the pool was full and it came back as `Err`), the pool has already
//! stopped counting it, and the caller only has to drop it.

use std::time::{Duration, Instant};

use shardgate_config::PoolConfig;

use crate::Rng;

/// Preallocation is capped so that an absurd `max_idle_per_host` cannot make
/// start-up (or a reload) abort on allocation; beyond this the vector grows once.
const MAX_PREALLOC: usize = 4096;

/// Where an upstream connection stands. `Idle`: in the pool, reusable.
/// `Busy`: a request holds it; it goes back to `Idle` when the request ends
/// cleanly. `Draining`: a request holds it but it will not be reused (the
/// origin said `Connection: close`, its server was removed by a reload or
/// marked down); it closes when its request ends. Closed connections are
/// gone from the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Idle,
    Busy,
    Draining,
}

/// How many connections are in each state (closed ones are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolCounts {
    pub idle: usize,
    pub busy: usize,
    pub draining: usize,
}

/// Counters since the pool was created (monotonic, for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Checkouts that returned an idle connection (reuse ratio numerator).
    pub reused: u64,
    /// Connections reported opened.
    pub opened: u64,
    /// Idle connections dropped because their deadline passed.
    pub expired: u64,
    /// Checkins refused because `max_idle_per_host` idle connections were kept.
    pub rejected_full: u64,
}

#[derive(Debug)]
struct Idle<C> {
    conn: C,
    /// `None` when `now + timeout` is not representable: never expires by time.
    deadline: Option<Instant>,
}

impl<C> Idle<C> {
    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

#[derive(Debug)]
pub struct Pool<C> {
    /// Stack of idle connections: the top is the most recently returned.
    idle: Vec<Idle<C>>,
    max_idle: usize,
    /// 0 = unlimited.
    max_open: usize,
    idle_secs: f64,
    jitter: f64,
    idle_timeout: Duration,
    /// Idle + busy + draining.
    open: usize,
    /// Held by a request, not to be reused.
    draining: usize,
    stats: PoolStats,
}

impl<C> Pool<C> {
    pub fn new(cfg: &PoolConfig) -> Pool<C> {
        let mut pool = Pool {
            idle: Vec::with_capacity(cfg.max_idle_per_host.min(MAX_PREALLOC)),
            max_idle: 0,
            max_open: 0,
            idle_secs: 0.0,
            jitter: 0.0,
            idle_timeout: Duration::ZERO,
            open: 0,
            draining: 0,
            stats: PoolStats::default(),
        };
        pool.reconfigure(cfg);
        pool
    }

    /// Applies new limits on reload while keeping the pooled connections and the
    /// counters (pools carry over by key). Idle connections beyond the new
    /// `max_idle_per_host` are dropped (oldest first) and counted as closed; kept
    /// ones keep their old deadlines.
    pub fn reconfigure(&mut self, cfg: &PoolConfig) {
        self.max_idle = cfg.max_idle_per_host;
        self.max_open = cfg.max_conns_per_host;
        self.idle_timeout = cfg.idle_timeout;
        self.idle_secs = cfg.idle_timeout.as_secs_f64();
        // The config promises 0.0–0.5; clamping (NaN → 0) keeps the factor positive.
        self.jitter = if cfg.idle_timeout_jitter.is_nan() {
            0.0
        } else {
            cfg.idle_timeout_jitter.clamp(0.0, 0.5)
        };
        let excess = self.idle.len().saturating_sub(self.max_idle);
        if excess > 0 {
            self.idle.drain(..excess);
            self.open = self.open.saturating_sub(excess);
        }
    }

    /// The most recently returned idle connection whose deadline has not passed
    /// (LIFO keeps hot sockets hot and lets the cold end of the stack expire).
    /// Expired connections found on top are dropped here (which closes them) and
    /// counted as expired.
    pub fn checkout(&mut self, now: Instant) -> Option<C> {
        while let Some(top) = self.idle.pop() {
            if top.expired(now) {
                self.open = self.open.saturating_sub(1);
                self.stats.expired += 1;
                continue;
            }
            self.stats.reused += 1;
            return Some(top.conn);
        }
        None
    }

    /// Returns a connection to the pool with a deadline of
    /// `now + idle_timeout × (1 ± jitter)`, so connections returned together do not
    /// expire together. `Err(conn)` when `max_idle_per_host` are already idle: the
    /// caller closes it (it is no longer counted as open).
    pub fn checkin(&mut self, conn: C, now: Instant, rng: &mut Rng) -> Result<(), C> {
        if self.idle.len() >= self.max_idle {
            self.stats.rejected_full += 1;
            self.open = self.open.saturating_sub(1);
            return Err(conn);
        }
        let deadline = now.checked_add(self.jittered_timeout(rng));
        self.idle.push(Idle { conn, deadline });
        Ok(())
    }

    fn jittered_timeout(&self, rng: &mut Rng) -> Duration {
        if self.jitter == 0.0 {
            return self.idle_timeout;
        }
        let factor = 1.0 + self.jitter * (2.0 * rng.next_f64() - 1.0);
        // Non-finite or out-of-range products (absurd timeouts) fall back to the
        // configured value rather than panicking.
        Duration::try_from_secs_f64(self.idle_secs * factor).unwrap_or(self.idle_timeout)
    }

    /// Drops every idle connection whose deadline has passed; returns how many.
    /// Call it from a periodic shard timer so sockets do not wait for a checkout.
    pub fn evict_expired(&mut self, now: Instant) -> usize {
        let before = self.idle.len();
        self.idle.retain(|i| !i.expired(now));
        let n = before - self.idle.len();
        self.open = self.open.saturating_sub(n);
        self.stats.expired += n as u64;
        n
    }

    /// Drops all idle connections (graceful stop, upstream removed); returns how many.
    pub fn clear_idle(&mut self) -> usize {
        let n = self.idle.len();
        self.idle.clear();
        self.open = self.open.saturating_sub(n);
        n
    }

    /// Whether another connection may be opened under `max_conns_per_host`.
    pub fn may_open(&self) -> bool {
        self.max_open == 0 || self.open < self.max_open
    }

    pub fn on_open(&mut self) {
        self.open = self.open.saturating_add(1);
        self.stats.opened += 1;
    }

    /// A busy connection will not be reused: it closes when its request ends.
    pub fn on_drain(&mut self) {
        let held = self.open.saturating_sub(self.idle.len());
        self.draining = (self.draining + 1).min(held);
    }

    /// A connection the caller held (`Busy` or `Draining`) was closed.
    pub fn on_close(&mut self, was: ConnState) {
        self.open = self.open.saturating_sub(1);
        if was == ConnState::Draining {
            self.draining = self.draining.saturating_sub(1);
        }
    }

    /// Connections per state.
    pub fn counts(&self) -> PoolCounts {
        let idle = self.idle.len();
        let held = self.open.saturating_sub(idle);
        let draining = self.draining.min(held);
        PoolCounts {
            idle,
            busy: held - draining,
            draining,
        }
    }

    pub fn idle_len(&self) -> usize {
        self.idle.len()
    }

    pub fn open_len(&self) -> usize {
        self.open
    }

    pub fn stats(&self) -> PoolStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_idle: usize, max_conns: usize, secs: u64, jitter: f64) -> PoolConfig {
        PoolConfig {
            max_idle_per_host: max_idle,
            max_conns_per_host: max_conns,
            idle_timeout: Duration::from_secs(secs),
            idle_timeout_jitter: jitter,
            ..PoolConfig::default()
        }
    }

    /// Opens and checks in `ids` in order.
    fn fill(pool: &mut Pool<u32>, ids: &[u32], now: Instant, rng: &mut Rng) {
        for &id in ids {
            pool.on_open();
            pool.checkin(id, now, rng).unwrap();
        }
    }

    #[test]
    fn preallocates_idle_slots() {
        let pool: Pool<u32> = Pool::new(&cfg(16, 0, 60, 0.0));
        assert!(pool.idle.capacity() >= 16);
    }

    #[test]
    fn checkout_is_lifo() {
        let now = Instant::now();
        let mut rng = Rng::new(1);
        let mut pool = Pool::new(&cfg(8, 0, 60, 0.0));
        fill(&mut pool, &[1, 2, 3], now, &mut rng);
        assert_eq!(pool.checkout(now), Some(3));
        pool.checkin(3, now, &mut rng).unwrap();
        assert_eq!(pool.checkout(now), Some(3));
        assert_eq!(pool.checkout(now), Some(2));
        assert_eq!(pool.checkout(now), Some(1));
        assert_eq!(pool.checkout(now), None);
        assert_eq!(pool.stats().reused, 4);
        assert_eq!(pool.open_len(), 3, "checked-out connections are still open");
    }

    #[test]
    fn expired_on_top_are_dropped_at_checkout() {
        let t0 = Instant::now();
        let mut rng = Rng::new(1);
        let mut pool = Pool::new(&cfg(8, 0, 10, 0.0));
        fill(&mut pool, &[1], t0, &mut rng);
        fill(&mut pool, &[2, 3], t0 + Duration::from_secs(5), &mut rng);
        // At t0+12: 1 expired (deadline t0+10), 2 and 3 live until t0+15.
        let t = t0 + Duration::from_secs(12);
        assert_eq!(pool.checkout(t), Some(3));
        assert_eq!(pool.checkout(t), Some(2));
        assert_eq!(pool.checkout(t), None);
        assert_eq!(pool.stats().expired, 1);
        assert_eq!(pool.open_len(), 2);
        // Exactly at the deadline counts as expired.
        fill(&mut pool, &[4], t, &mut rng);
        assert_eq!(pool.checkout(t + Duration::from_secs(10)), None);
    }

    #[test]
    fn evict_expired_keeps_live_order() {
        let t0 = Instant::now();
        let mut rng = Rng::new(1);
        let mut pool = Pool::new(&cfg(8, 0, 10, 0.0));
        fill(&mut pool, &[1, 2], t0, &mut rng);
        fill(&mut pool, &[3, 4], t0 + Duration::from_secs(5), &mut rng);
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(9)), 0);
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(11)), 2);
        assert_eq!(pool.idle_len(), 2);
        assert_eq!(pool.open_len(), 2);
        assert_eq!(pool.stats().expired, 2);
        assert_eq!(pool.checkout(t0 + Duration::from_secs(11)), Some(4));
        assert_eq!(pool.checkout(t0 + Duration::from_secs(11)), Some(3));
    }

    #[test]
    fn jittered_deadlines_stay_within_bounds_and_spread() {
        let t0 = Instant::now();
        let mut rng = Rng::new(99);
        let mut pool: Pool<u32> = Pool::new(&cfg(1000, 0, 100, 0.2));
        let mut min = Duration::MAX;
        let mut max = Duration::ZERO;
        for i in 0..1000 {
            pool.on_open();
            pool.checkin(i, t0, &mut rng).unwrap();
        }
        for idle in &pool.idle {
            let d = idle.deadline.unwrap() - t0;
            min = min.min(d);
            max = max.max(d);
        }
        assert!(min >= Duration::from_secs(80), "{min:?}");
        assert!(max <= Duration::from_secs(120), "{max:?}");
        // With 1000 draws the spread must cover most of the ±20 % band.
        assert!(min < Duration::from_secs(82), "{min:?}");
        assert!(max > Duration::from_secs(118), "{max:?}");
        // Nothing expires before the lower bound; everything by the upper one.
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(79)), 0);
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(120)), 1000);
        assert_eq!(pool.open_len(), 0);
    }

    #[test]
    fn jitter_out_of_range_is_clamped() {
        let t0 = Instant::now();
        let mut rng = Rng::new(5);
        for jitter in [3.0, -1.0, f64::NAN] {
            let mut pool: Pool<u32> = Pool::new(&cfg(100, 0, 10, jitter));
            for i in 0..100 {
                pool.checkin(i, t0, &mut rng).unwrap();
            }
            for idle in &pool.idle {
                let d = idle.deadline.unwrap() - t0;
                assert!(d >= Duration::from_secs(5) && d <= Duration::from_secs(15));
            }
        }
    }

    #[test]
    fn huge_timeout_never_expires_instead_of_panicking() {
        let t0 = Instant::now();
        let mut rng = Rng::new(5);
        let mut pool = Pool::new(&PoolConfig {
            max_idle_per_host: 2,
            max_conns_per_host: 0,
            idle_timeout: Duration::MAX,
            idle_timeout_jitter: 0.5,
            ..PoolConfig::default()
        });
        pool.checkin(1u32, t0, &mut rng).unwrap();
        assert_eq!(pool.evict_expired(t0 + Duration::from_secs(1 << 40)), 0);
        assert_eq!(pool.checkout(t0 + Duration::from_secs(1 << 40)), Some(1));
    }

    #[test]
    fn max_idle_rejects_and_stops_counting() {
        let now = Instant::now();
        let mut rng = Rng::new(1);
        let mut pool = Pool::new(&cfg(2, 0, 60, 0.1));
        fill(&mut pool, &[1, 2], now, &mut rng);
        pool.on_open();
        assert_eq!(pool.checkin(3, now, &mut rng), Err(3));
        assert_eq!(pool.idle_len(), 2);
        assert_eq!(pool.open_len(), 2);
        assert_eq!(pool.stats().rejected_full, 1);
        assert_eq!(pool.stats().opened, 3);

        let mut none = Pool::new(&cfg(0, 0, 60, 0.0));
        none.on_open();
        assert_eq!(none.checkin(7u32, now, &mut rng), Err(7));
        assert_eq!(none.open_len(), 0);
    }

    #[test]
    fn may_open_counts_busy_and_idle() {
        let now = Instant::now();
        let mut rng = Rng::new(1);
        let mut pool = Pool::new(&cfg(4, 2, 60, 0.0));
        assert!(pool.may_open());
        pool.on_open();
        assert!(pool.may_open());
        pool.on_open();
        assert!(!pool.may_open(), "two busy");
        pool.checkin(1u32, now, &mut rng).unwrap();
        assert!(!pool.may_open(), "one busy, one idle");
        pool.on_close(ConnState::Busy);
        assert!(pool.may_open());
        assert_eq!(pool.checkout(now + Duration::from_secs(61)), None);
        assert_eq!(pool.open_len(), 0, "expired idle connection was closed");

        let mut unlimited: Pool<u32> = Pool::new(&cfg(4, 0, 60, 0.0));
        for _ in 0..10_000 {
            unlimited.on_open();
        }
        assert!(unlimited.may_open());
    }

    #[test]
    fn counts_follow_the_state_machine() {
        let now = Instant::now();
        let mut rng = Rng::new(1);
        let mut pool = Pool::new(&cfg(4, 0, 60, 0.0));
        let c = |idle, busy, draining| PoolCounts {
            idle,
            busy,
            draining,
        };
        // Two opened (busy), one returned (idle), one drained then closed.
        pool.on_open();
        pool.on_open();
        assert_eq!(pool.counts(), c(0, 2, 0));
        pool.checkin(1u32, now, &mut rng).unwrap();
        assert_eq!(pool.counts(), c(1, 1, 0));
        pool.on_drain();
        assert_eq!(pool.counts(), c(1, 0, 1));
        // Draining more than is held is impossible: counts stay consistent.
        pool.on_drain();
        assert_eq!(pool.counts(), c(1, 0, 1));
        pool.on_close(ConnState::Draining);
        assert_eq!(pool.counts(), c(1, 0, 0));
        assert_eq!(pool.checkout(now), Some(1));
        assert_eq!(pool.counts(), c(0, 1, 0));
        pool.on_close(ConnState::Busy);
        assert_eq!(pool.counts(), c(0, 0, 0));
        pool.on_close(ConnState::Draining);
        assert_eq!(pool.counts(), c(0, 0, 0));
    }

    #[test]
    fn on_close_never_underflows() {
        let mut pool: Pool<u32> = Pool::new(&cfg(4, 1, 60, 0.0));
        pool.on_close(ConnState::Busy);
        assert_eq!(pool.open_len(), 0);
        assert!(pool.may_open());
    }

    #[test]
    fn reconfigure_trims_oldest_idle() {
        let now = Instant::now();
        let mut rng = Rng::new(1);
        let mut pool = Pool::new(&cfg(4, 0, 60, 0.0));
        fill(&mut pool, &[1, 2, 3, 4], now, &mut rng);
        pool.reconfigure(&cfg(2, 3, 60, 0.0));
        assert_eq!(pool.idle_len(), 2);
        assert_eq!(pool.open_len(), 2);
        assert!(pool.may_open());
        assert_eq!(pool.checkout(now), Some(4));
        assert_eq!(pool.checkout(now), Some(3));
        assert_eq!(pool.clear_idle(), 0);
    }
}
