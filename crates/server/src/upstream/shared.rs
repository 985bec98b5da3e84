//! What every shard and the health thread share about one upstream server:
//! its active-check state, its outlier state (consecutive failures,
//! ejection) and each shard's published pool and backoff figures.
//!
//! Atomics only. The request path only loads them (relaxed); stores happen on
//! probes (the health thread, the only writer of the active fields), on
//! failures and ejections (any shard), and once per second per shard for the
//! published pool figures (each shard writes its own entry). A value that is
//! a moment stale costs one request's choice, never correctness: a server is
//! never used *because* of a stale read, only possibly once more or once less.
//!
//! Times are milliseconds since a process-wide epoch ([`millis`]), so a
//! deadline fits one `AtomicU64`; 0 means "none".

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use shardgate_config::HealthCheckConfig;

use crate::metrics::health::{PanicMetrics, ServerHealthMetrics};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// `now` in milliseconds since the process's health epoch (the first call).
pub fn millis(now: Instant) -> u64 {
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(now.saturating_duration_since(*epoch).as_millis()).unwrap_or(u64::MAX)
}

/// A server's active-check state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Active {
    /// The upstream has no `[upstream.health_check]`.
    Unchecked,
    Up,
    Down,
}

impl Active {
    fn from_u8(v: u8) -> Active {
        match v {
            1 => Active::Up,
            2 => Active::Down,
            _ => Active::Unchecked,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Active::Unchecked => 0,
            Active::Up => 1,
            Active::Down => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Active::Unchecked => "unchecked",
            Active::Up => "up",
            Active::Down => "down",
        }
    }
}

/// The result of the latest probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    None,
    Passed,
    Failed,
}

impl Probe {
    pub fn name(self) -> &'static str {
        match self {
            Probe::None => "none",
            Probe::Passed => "passed",
            Probe::Failed => "failed",
        }
    }
}

/// One shard's figures for one server, written by that shard only, from its
/// once-a-second pool sweep (not per request). Own cache line: shards never
/// write the same one.
#[derive(Default)]
#[repr(align(64))]
struct ShardSlot {
    published: AtomicBool,
    idle: AtomicU32,
    busy: AtomicU32,
    draining: AtomicU32,
    backoff_failures: AtomicU32,
    backoff_until: AtomicU64,
}

/// What a shard publishes about one server (see `ShardCtx::evict_idle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardFigures {
    /// Connections by pool state (`shardgate_proxy::ConnState`).
    pub idle: u32,
    pub busy: u32,
    pub draining: u32,
    /// This shard's consecutive failures to the server (reconnect backoff).
    pub backoff_failures: u32,
    /// Until when this shard leaves the server alone (ms since the epoch; 0: not).
    pub backoff_until: u64,
}

pub struct ServerShared {
    pub upstream: String,
    pub addr: SocketAddr,
    // Active checks: written by the health thread only.
    active: AtomicU8,
    passed_in_row: AtomicU32,
    failed_in_row: AtomicU32,
    last_probe_at: AtomicU64,
    last_probe: AtomicU8,
    // Outlier detection: see `outlier.rs`.
    pub(super) failures: AtomicU32,
    pub(super) ejected_until: AtomicU64,
    /// The end (ms) of the latest ejection whose return is not reported yet
    /// (0: none): set by the shard that ejects, taken by whoever reports the
    /// return, so each return is logged exactly once.
    pub(super) unreported: AtomicU64,
    /// Ejections in a row: the multiplier of the next ejection's length.
    pub(super) ejections: AtomicU32,
    /// The end of the latest ejection (ms), to forget old ones.
    pub(super) last_until: AtomicU64,
    shards: Box<[ShardSlot]>,
    pub(super) metrics: ServerHealthMetrics,
}

impl ServerShared {
    /// A server new to the process. With an active check it starts up (see
    /// ADR 11: traffic does not wait for the first probe).
    pub(super) fn new(upstream: &str, addr: SocketAddr, checked: bool, shards: usize) -> Self {
        let metrics = ServerHealthMetrics::new(upstream, &addr.to_string());
        metrics.active_healthy.set(1.0);
        metrics.ejected_now.set(0.0);
        let s = ServerShared {
            upstream: upstream.to_string(),
            addr,
            active: AtomicU8::new(Active::Unchecked.as_u8()),
            passed_in_row: AtomicU32::new(0),
            failed_in_row: AtomicU32::new(0),
            last_probe_at: AtomicU64::new(0),
            last_probe: AtomicU8::new(0),
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            last_until: AtomicU64::new(0),
            shards: (0..shards).map(|_| ShardSlot::default()).collect(),
            metrics,
        };
        s.set_checked(checked);
        s
    }

    /// A reload added or removed the upstream's active check. Adding one
    /// starts the server up (as a new server would), removing it forgets
    /// the check's verdict. Not a health transition: nothing is logged.
    pub(super) fn set_checked(&self, checked: bool) {
        let now = self.active();
        let next = match (checked, now) {
            (false, _) => Active::Unchecked,
            (true, Active::Unchecked) => Active::Up,
            (true, kept) => kept,
        };
        if next != now {
            self.active.store(next.as_u8(), Relaxed);
            self.passed_in_row.store(0, Relaxed);
            self.failed_in_row.store(0, Relaxed);
            self.last_probe.store(0, Relaxed);
            self.last_probe_at.store(0, Relaxed);
            self.metrics.active_healthy.set(1.0);
        }
    }

    pub fn active(&self) -> Active {
        Active::from_u8(self.active.load(Relaxed))
    }

    /// Active check not failing and not ejected: the process-wide half of
    /// availability (the shard's backoff is the other).
    pub fn is_healthy(&self, now_ms: u64) -> bool {
        self.active.load(Relaxed) != Active::Down.as_u8()
            && now_ms >= self.ejected_until.load(Relaxed)
    }

    /// Down, or ejected (possibly just over, until the health thread's
    /// sweep reports the return): worth a clock read to know. Two relaxed
    /// loads, for the per-response check.
    pub fn maybe_unhealthy(&self) -> bool {
        self.active.load(Relaxed) == Active::Down.as_u8() || self.ejected_until.load(Relaxed) != 0
    }

    pub fn is_ejected(&self, now_ms: u64) -> bool {
        now_ms < self.ejected_until.load(Relaxed)
    }

    /// One probe's result (health thread only). Moves the state when the
    /// threshold in a row is reached, logging and counting the change once.
    pub fn record_probe(&self, passed: bool, now_ms: u64, cfg: &HealthCheckConfig) {
        self.last_probe_at.store(now_ms.max(1), Relaxed);
        self.last_probe.store(if passed { 1 } else { 2 }, Relaxed);
        let (row, other) = if passed {
            self.metrics.probes_ok.increment(1);
            (&self.passed_in_row, &self.failed_in_row)
        } else {
            self.metrics.probes_failed.increment(1);
            (&self.failed_in_row, &self.passed_in_row)
        };
        let n = row.load(Relaxed).saturating_add(1);
        row.store(n, Relaxed);
        other.store(0, Relaxed);
        let Some(next) = active_step(self.active(), passed, n, cfg) else {
            return;
        };
        self.active.store(next.as_u8(), Relaxed);
        if next == Active::Down {
            self.metrics.went_down.increment(1);
            self.metrics.active_healthy.set(0.0);
            tracing::warn!(upstream = %self.upstream, server = %self.addr, failed = n, "health check failing: server marked down");
        } else {
            self.metrics.went_up.increment(1);
            self.metrics.active_healthy.set(1.0);
            tracing::info!(upstream = %self.upstream, server = %self.addr, passed = n, "health check passing: server marked up");
        }
    }

    /// This shard's figures (the shard's own slot; once a second).
    pub fn publish(&self, shard: usize, f: ShardFigures) {
        if let Some(slot) = self.shards.get(shard) {
            slot.idle.store(f.idle, Relaxed);
            slot.busy.store(f.busy, Relaxed);
            slot.draining.store(f.draining, Relaxed);
            slot.backoff_failures.store(f.backoff_failures, Relaxed);
            slot.backoff_until.store(f.backoff_until, Relaxed);
            slot.published.store(true, Relaxed);
        }
    }

    /// Everything `/upstreams` shows, read now.
    pub fn view(&self) -> ServerView {
        ServerView {
            active: self.active(),
            passed_in_row: self.passed_in_row.load(Relaxed),
            failed_in_row: self.failed_in_row.load(Relaxed),
            last_probe: match self.last_probe.load(Relaxed) {
                1 => Probe::Passed,
                2 => Probe::Failed,
                _ => Probe::None,
            },
            last_probe_at: self.last_probe_at.load(Relaxed),
            consecutive_failures: self.failures.load(Relaxed),
            ejected_until: self.ejected_until.load(Relaxed),
            ejections: self.ejections.load(Relaxed),
            shards: self
                .shards
                .iter()
                .map(|s| {
                    s.published.load(Relaxed).then(|| ShardFigures {
                        idle: s.idle.load(Relaxed),
                        busy: s.busy.load(Relaxed),
                        draining: s.draining.load(Relaxed),
                        backoff_failures: s.backoff_failures.load(Relaxed),
                        backoff_until: s.backoff_until.load(Relaxed),
                    })
                })
                .collect(),
        }
    }
}

/// The active state after a probe, when it changes: `in_row` passes (or
/// failures) in a row reached the threshold. An unchecked server is treated
/// as up.
pub fn active_step(
    now: Active,
    passed: bool,
    in_row: u32,
    cfg: &HealthCheckConfig,
) -> Option<Active> {
    match (now, passed) {
        (Active::Down, true) if in_row >= cfg.healthy_threshold => Some(Active::Up),
        (Active::Up | Active::Unchecked, false) if in_row >= cfg.unhealthy_threshold => {
            Some(Active::Down)
        }
        _ => None,
    }
}

/// A copy of one server's shared state.
#[derive(Debug, Clone)]
pub struct ServerView {
    pub active: Active,
    pub passed_in_row: u32,
    pub failed_in_row: u32,
    pub last_probe: Probe,
    /// ms since the epoch; 0: never probed.
    pub last_probe_at: u64,
    pub consecutive_failures: u32,
    /// ms since the epoch; in the past (or 0): not ejected.
    pub ejected_until: u64,
    pub ejections: u32,
    /// By shard; `None` until the shard first published.
    pub shards: Vec<Option<ShardFigures>>,
}

/// What all shards share about one upstream in one config generation: its
/// servers' shared state (carried across reloads by address) and its panic
/// state.
pub struct UpstreamShared {
    pub name: String,
    /// The upstream has an active check in this generation.
    pub checked: bool,
    pub servers: Vec<Arc<ServerShared>>,
    /// One shard at a time decides an ejection (a try-flag, never waited
    /// on), so `max_ejection_percent` holds exactly.
    pub(super) ejecting: AtomicBool,
    /// In panic, as last reported (by the health thread's sweep).
    pub(super) panic: Arc<AtomicBool>,
    pub(super) panic_metrics: Arc<PanicMetrics>,
}

impl UpstreamShared {
    /// Servers available now (active check not failing, not ejected).
    pub fn healthy(&self, now_ms: u64) -> usize {
        self.servers.iter().filter(|s| s.is_healthy(now_ms)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(healthy: u32, unhealthy: u32) -> HealthCheckConfig {
        HealthCheckConfig {
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
            ..HealthCheckConfig::default()
        }
    }

    #[test]
    fn thresholds_in_a_row_move_the_state() {
        let c = cfg(2, 3);
        assert_eq!(active_step(Active::Up, false, 1, &c), None);
        assert_eq!(active_step(Active::Up, false, 2, &c), None);
        assert_eq!(active_step(Active::Up, false, 3, &c), Some(Active::Down));
        assert_eq!(
            active_step(Active::Unchecked, false, 3, &c),
            Some(Active::Down)
        );
        assert_eq!(active_step(Active::Down, false, 9, &c), None);
        assert_eq!(active_step(Active::Down, true, 1, &c), None);
        assert_eq!(active_step(Active::Down, true, 2, &c), Some(Active::Up));
        assert_eq!(active_step(Active::Up, true, 50, &c), None);
    }

    #[test]
    fn probes_count_in_a_row_and_reset_the_other_streak() {
        let c = cfg(2, 2);
        let s = ServerShared::new("u", "127.0.0.1:1".parse().unwrap(), true, 2);
        assert_eq!(s.active(), Active::Up);
        s.record_probe(false, 10, &c);
        s.record_probe(true, 20, &c);
        s.record_probe(false, 30, &c);
        assert_eq!(s.active(), Active::Up, "failures were not in a row");
        s.record_probe(false, 40, &c);
        assert_eq!(s.active(), Active::Down);
        assert!(!s.is_healthy(40));
        s.record_probe(true, 50, &c);
        assert_eq!(s.active(), Active::Down);
        s.record_probe(true, 60, &c);
        assert_eq!(s.active(), Active::Up);
        let v = s.view();
        assert_eq!((v.passed_in_row, v.failed_in_row), (2, 0));
        assert_eq!((v.last_probe, v.last_probe_at), (Probe::Passed, 60));
        assert_eq!(v.shards, [None, None]);
    }

    #[test]
    fn removing_the_check_forgets_its_verdict() {
        let c = cfg(1, 1);
        let s = ServerShared::new("u", "127.0.0.1:1".parse().unwrap(), true, 1);
        s.record_probe(false, 1, &c);
        assert_eq!(s.active(), Active::Down);
        s.set_checked(true);
        assert_eq!(s.active(), Active::Down, "a kept check keeps its state");
        s.set_checked(false);
        assert_eq!(s.active(), Active::Unchecked);
        assert_eq!(s.view().last_probe, Probe::None);
        assert!(s.is_healthy(1));
        s.set_checked(true);
        assert_eq!(s.active(), Active::Up);
    }

    #[test]
    fn published_figures_are_per_shard() {
        let s = ServerShared::new("u", "127.0.0.1:1".parse().unwrap(), false, 2);
        let f = ShardFigures {
            idle: 3,
            busy: 4,
            draining: 1,
            backoff_failures: 1,
            backoff_until: 99,
        };
        s.publish(1, f);
        s.publish(7, f);
        assert_eq!(s.view().shards, [None, Some(f)]);
    }
}
