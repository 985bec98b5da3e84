//! The adaptive concurrency limit of one upstream on one shard, in the shape
//! of Netflix's Gradient2 (concurrency-limits), with guards against the
//! failure modes seen in it and in Envoy's adaptive_concurrency filter.
//!
//! Each window (`window` long and `window_samples` samples at least) the
//! median RTT of the window (`short`) is compared with a long-term baseline
//! (`long`, an EWMA over `long_window` windows):
//!
//! ```text
//! gradient = clamp(tolerance × long / short, 0.5, 1.0)
//! estimate = gradient × limit + √limit          (√limit: room to probe up)
//! limit    = (1 − smoothing) × limit + smoothing × estimate, within [min, max]
//! ```
//!
//! Guards:
//! - Only answers are samples: the caller passes no RTT for requests that
//!   failed, timed out, were refused, or that the origin answered with a
//!   5xx or 429 (a fast error is not a fast origin).
//! - App-limited: while fewer than half of the limit were in flight during
//!   the window, the limit does not grow (a limit nobody uses says nothing
//!   about the origin, and would let a burst through unchecked later).
//! - No upward ratchet: windows only ever move the baseline *down*. Under
//!   sustained load our own queueing inflates `short`; a baseline that
//!   followed it (Gradient2's slow drift) would let the limit creep up until
//!   the origin drowned. Not even app-limited windows move it up: a limit
//!   far above the origin's capacity can be "less than half used" while the
//!   origin queues our requests.
//! - Probing: so that an origin that really became slower is followed, every
//!   `probe_interval` (± `probe_jitter`, drawn per probe, so shards and
//!   gateways do not probe together) one window is measured with admission
//!   capped at `probe_ratio` × what was in use (the limit, or less when the
//!   last window used less), and its median *replaces* the baseline, up or
//!   down. Only requests admitted during the probe count, so no request
//!   queued before it does. The probe level is its own knob, not
//!   `min_limit` (Envoy drops to `min_concurrency`, which is also its floor).
//!
//! Nothing here reads a clock: every call takes the `Instant` it happens at.

mod window;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use shardgate_config::AdaptiveConcurrencyConfig;

use crate::rng::Rng;
use window::Window;

/// The lower clamp of the gradient: one window at most halves the estimate
/// (outliers must not collapse the limit).
const MIN_GRADIENT: f64 = 0.5;
/// A window that has not gathered `window_samples` after this many
/// `window`s closes with what it has (a slow or quiet upstream still moves).
const MAX_WINDOWS: u32 = 10;

/// One admitted request's claim on the limit; give it back with
/// [`Gradient2::release`]. Not `Clone`: each admission is released once.
#[must_use = "a permit must be released, or the request stays in flight"]
#[derive(Debug)]
pub struct Permit {
    /// The probe (or normal) period it was admitted in.
    epoch: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Normal windows; the next probe is due at `next` (None: not scheduled
    /// yet, done at the first sample).
    Normal { next: Option<Instant> },
    /// Measuring the baseline at the probe level; only permits of the
    /// current epoch are samples.
    Probing,
}

pub struct Gradient2 {
    cfg: AdaptiveConcurrencyConfig,
    limit: f64,
    in_flight: u32,
    /// The long-term RTT, in seconds (None until the first window closed).
    baseline: Option<f64>,
    window: Window,
    phase: Phase,
    epoch: u32,
    /// The probe's admission cap (set when a probe starts).
    probe_cap: u32,
    rng: Rng,
}

impl Gradient2 {
    pub fn new(cfg: AdaptiveConcurrencyConfig, seed: u64) -> Self {
        Gradient2 {
            cfg,
            limit: f64::from(cfg.initial_limit),
            in_flight: 0,
            baseline: None,
            window: Window::new(0),
            phase: Phase::Normal { next: None },
            epoch: 0,
            probe_cap: 1,
            rng: Rng::new(seed),
        }
    }

    /// A reload: the same table keeps everything; a changed one starts over
    /// from its `initial_limit`, keeping the count of requests in flight
    /// (they release into this state). Permits of before are then no
    /// probe's samples.
    pub fn reconfigure(&mut self, cfg: AdaptiveConcurrencyConfig) {
        if cfg == self.cfg {
            return;
        }
        let seed = self.rng.next_u64();
        let (in_flight, epoch) = (self.in_flight, self.epoch.wrapping_add(1));
        *self = Gradient2::new(cfg, seed);
        self.in_flight = in_flight;
        self.epoch = epoch;
    }

    /// The limit, as a whole number of requests.
    pub fn limit(&self) -> u32 {
        whole(self.limit)
    }

    /// How many requests may be in flight now: the limit, or the probe level
    /// while probing.
    pub fn cap(&self) -> u32 {
        match self.phase {
            Phase::Normal { .. } => self.limit(),
            Phase::Probing => self.probe_cap,
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    pub fn probing(&self) -> bool {
        self.phase == Phase::Probing
    }

    /// The long-term RTT the windows are compared with.
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    }

    /// Admits one request if the cap allows it.
    pub fn try_acquire(&mut self) -> Option<Permit> {
        if self.in_flight >= self.cap() {
            return None;
        }
        self.in_flight += 1;
        self.window.peak_in_flight = self.window.peak_in_flight.max(self.in_flight);
        Some(Permit { epoch: self.epoch })
    }

    /// Gives a permit back. `sample`: the time from the request sent to the
    /// response head and when that head came, for an answer that counts as
    /// a sample (None for a failure, a timeout, a 5xx or 429, or a request
    /// never sent).
    pub fn release(&mut self, permit: Permit, sample: Option<(Duration, Instant)>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some((rtt, now)) = sample else {
            return;
        };
        if self.probing() && permit.epoch != self.epoch {
            // Admitted before the probe: it may have queued behind the
            // higher concurrency the probe is there to get away from.
            return;
        }
        if let Phase::Normal { next: None } = self.phase {
            let next = self.next_probe(now);
            self.phase = Phase::Normal { next: Some(next) };
        }
        self.window.add(rtt, now, &mut self.rng);
        self.maybe_close(now);
    }

    fn maybe_close(&mut self, now: Instant) {
        let elapsed = self.window.elapsed(now);
        let full = self.window.count() >= self.cfg.window_samples;
        if elapsed < self.cfg.window
            || (!full && elapsed < self.cfg.window.saturating_mul(MAX_WINDOWS))
        {
            return;
        }
        let Some(short) = self.window.median() else {
            return;
        };
        let short = short.as_secs_f64().max(1e-9);
        let app_limited = u64::from(self.window.peak_in_flight) * 2 < u64::from(self.limit());
        match self.phase {
            Phase::Probing => {
                // Measured at the probe level: the origin's own latency now.
                self.baseline = Some(short);
                self.phase = Phase::Normal {
                    next: Some(self.next_probe(now)),
                };
            }
            Phase::Normal { next } => {
                self.update(short, app_limited);
                if next.is_some_and(|due| now >= due) {
                    // Below what was really in flight, so the probe lowers
                    // the origin's load even when the limit is not reached.
                    let used = self.window.peak_in_flight.min(self.limit());
                    self.probe_cap = whole(f64::from(used) * self.cfg.probe_ratio);
                    self.phase = Phase::Probing;
                    self.epoch = self.epoch.wrapping_add(1);
                }
            }
        }
        self.window.reset(self.in_flight);
    }

    /// One window's step of the limit and the baseline.
    fn update(&mut self, short: f64, app_limited: bool) {
        let long = *self.baseline.get_or_insert(short);
        let alpha = 2.0 / (f64::from(self.cfg.long_window) + 1.0);
        // Down with any window, never up (only a probe raises it: see the
        // module comment).
        let long = if short < long {
            long + alpha * (short - long)
        } else {
            long
        };
        self.baseline = Some(long);
        let gradient = (self.cfg.tolerance * long / short).clamp(MIN_GRADIENT, 1.0);
        let mut estimate = gradient * self.limit + self.limit.sqrt();
        if app_limited {
            estimate = estimate.min(self.limit);
        }
        let s = self.cfg.smoothing;
        let next = (1.0 - s) * self.limit + s * estimate;
        self.limit = next.clamp(f64::from(self.cfg.min_limit), f64::from(self.cfg.max_limit));
    }

    /// `probe_interval` from `now`, give or take `probe_jitter` of it.
    fn next_probe(&mut self, now: Instant) -> Instant {
        let j = self.cfg.probe_jitter * (2.0 * self.rng.next_f64() - 1.0);
        let interval = self.cfg.probe_interval.mul_f64((1.0 + j).max(0.0));
        now.checked_add(interval).unwrap_or(now)
    }
}

/// Whether an answer with `status` is an RTT sample: 5xx and 429 are the
/// origin failing or refusing, often fast, and would read as "the origin got
/// faster" (Envoy and Netflix both learned this the hard way).
pub fn is_sample(status: u16) -> bool {
    status < 500 && status != 429
}

/// A limit as a count: at least one request is always let through, so the
/// limiter can still take samples.
fn whole(x: f64) -> u32 {
    if x >= f64::from(u32::MAX) {
        u32::MAX
    } else if x >= 1.0 {
        x as u32
    } else {
        1
    }
}
