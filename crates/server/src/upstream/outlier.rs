//! Passive outlier detection: failures of real requests, counted across all
//! shards, eject a server for a while; and the panic threshold that stops
//! health from taking every server out.
//!
//! The counters are process-wide atomics, so one shard's failures count for
//! all. The request path pays one relaxed load on success (a store only when
//! the count was not zero); failures pay an atomic add, and the rare ejection
//! is decided by one shard at a time under a try-flag that nobody waits on.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use shardgate_config::OutlierConfig;

use super::shared::{ServerShared, UpstreamShared};

/// How many of `servers` may be ejected at once: `percent` of them, rounded
/// down, but at least one when `percent` > 0 (Envoy's rule: with few servers
/// a small percentage would otherwise never allow any ejection).
pub fn max_ejectable(servers: usize, percent: u8) -> usize {
    if percent == 0 {
        return 0;
    }
    (servers.saturating_mul(usize::from(percent)) / 100).max(1)
}

/// Panic: fewer than `threshold` percent of the servers are healthy (0 =
/// never). Health is then ignored and every server takes traffic.
pub fn is_panic(healthy: usize, servers: usize, threshold: u8) -> bool {
    threshold > 0 && healthy.saturating_mul(100) < servers.saturating_mul(usize::from(threshold))
}

/// The multiplier of the next ejection: one more than the last, unless the
/// server stayed in for `max_ejection_time` since its last ejection ended
/// (then the streak is forgotten and it starts at 1 again).
fn next_multiplier(previous: u32, last_until: u64, now_ms: u64, cfg: &OutlierConfig) -> u32 {
    let quiet = now_ms.saturating_sub(last_until) >= millis(cfg.max_ejection_time);
    if previous == 0 || quiet {
        1
    } else {
        previous.saturating_add(1)
    }
}

/// `base_ejection_time × multiplier`, capped by `max_ejection_time`, in ms
/// (at least 1, so a deadline is always later than now).
pub fn ejection_ms(multiplier: u32, cfg: &OutlierConfig) -> u64 {
    millis(cfg.base_ejection_time)
        .saturating_mul(u64::from(multiplier))
        .min(millis(cfg.max_ejection_time))
        .max(1)
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ServerShared {
    /// An attempt that got an answer (not a 5xx counted as a failure):
    /// the failures in a row start again.
    pub fn record_success(&self) {
        if self.failures.load(Relaxed) != 0 {
            self.failures.store(0, Relaxed);
        }
    }

    /// Reports the end of an ejection, once (whoever sees it first: the
    /// health thread's sweep, or the shard that ejects the server again).
    pub fn report_return(&self, now_ms: u64) {
        let until = self.unreported.load(Relaxed);
        if until == 0 || now_ms < until {
            return;
        }
        if self
            .unreported
            .compare_exchange(until, 0, Relaxed, Relaxed)
            .is_ok()
        {
            // Over: back to "never ejected" (unless ejected again meanwhile),
            // so `maybe_unhealthy` stays a cheap no.
            let _ = self
                .ejected_until
                .compare_exchange(until, 0, Relaxed, Relaxed);
            self.returned();
        }
    }

    fn returned(&self) {
        self.metrics.returned.increment(1);
        self.metrics.ejected_now.set(0.0);
        tracing::info!(upstream = %self.upstream, server = %self.addr, "ejection over: server back in");
    }
}

impl UpstreamShared {
    /// A failed attempt on `server` (connect failure, reset, timeout,
    /// malformed answer; a 5xx with `on_5xx`). Ejects it when this makes
    /// `consecutive_failures` in a row and `max_ejection_percent` allows.
    pub fn record_failure(&self, server: &ServerShared, cfg: &OutlierConfig, now_ms: u64) {
        if cfg.consecutive_failures == 0 {
            return;
        }
        let n = server.failures.fetch_add(1, Relaxed).saturating_add(1);
        if n < cfg.consecutive_failures || server.is_ejected(now_ms) {
            return;
        }
        // Another shard is deciding an ejection of this upstream: leave it
        // to that one; the count stays, so the next failure tries again.
        if self
            .ejecting
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_err()
        {
            return;
        }
        self.eject(server, cfg, now_ms, n);
        self.ejecting.store(false, Release);
    }

    /// Under the `ejecting` flag.
    fn eject(&self, server: &ServerShared, cfg: &OutlierConfig, now_ms: u64, failures: u32) {
        if server.is_ejected(now_ms) {
            return;
        }
        let ejected = self.servers.iter().filter(|s| s.is_ejected(now_ms)).count();
        if ejected >= max_ejectable(self.servers.len(), cfg.max_ejection_percent) {
            return;
        }
        let multiplier = next_multiplier(
            server.ejections.load(Relaxed),
            server.last_until.load(Relaxed),
            now_ms,
            cfg,
        );
        let length = ejection_ms(multiplier, cfg);
        let until = now_ms.saturating_add(length);
        server.ejections.store(multiplier, Relaxed);
        server.last_until.store(until, Relaxed);
        server.failures.store(0, Relaxed);
        server.ejected_until.store(until, Relaxed);
        // A previous ejection whose end nobody reported yet ends here.
        if server.unreported.swap(until, Relaxed) != 0 {
            server.returned();
        }
        server.metrics.ejected.increment(1);
        server.metrics.ejected_now.set(1.0);
        tracing::warn!(
            upstream = %self.name,
            server = %server.addr,
            failures,
            ejection = multiplier,
            for_ms = length,
            "server ejected after failures in a row"
        );
    }

    /// The health thread's periodic look: ejections that ended are reported,
    /// and panic entered or left is logged and counted (once per change).
    pub fn sweep(&self, now_ms: u64, cfg: &OutlierConfig) {
        for s in &self.servers {
            s.report_return(now_ms);
        }
        let panic = is_panic(
            self.healthy(now_ms),
            self.servers.len(),
            cfg.panic_threshold,
        );
        if self.panic.swap(panic, Relaxed) == panic {
            return;
        }
        let m = &self.panic_metrics;
        if panic {
            m.entered.increment(1);
            m.active.set(1.0);
            tracing::warn!(upstream = %self.name, healthy = self.healthy(now_ms), servers = self.servers.len(), "panic: too few healthy servers, balancing over all of them");
        } else {
            m.left.increment(1);
            m.active.set(0.0);
            tracing::info!(upstream = %self.name, "panic over: health applies again");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::metrics::health::PanicMetrics;

    fn cfg(failures: u32, percent: u8) -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: failures,
            on_5xx: false,
            base_ejection_time: Duration::from_millis(1000),
            max_ejection_time: Duration::from_millis(3500),
            max_ejection_percent: percent,
            panic_threshold: 50,
        }
    }

    fn upstream(n: u16) -> UpstreamShared {
        UpstreamShared {
            name: "u".into(),
            checked: false,
            servers: (1..=n)
                .map(|p| {
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], p));
                    Arc::new(ServerShared::new("u", addr, false, 1))
                })
                .collect(),
            ejecting: AtomicBool::new(false),
            panic: Arc::new(AtomicBool::new(false)),
            panic_metrics: Arc::new(PanicMetrics::new("u")),
        }
    }

    #[test]
    fn ejectable_share_rounds_down_but_allows_one() {
        assert_eq!(max_ejectable(10, 10), 1);
        assert_eq!(max_ejectable(10, 50), 5);
        assert_eq!(max_ejectable(3, 10), 1);
        assert_eq!(max_ejectable(3, 50), 1);
        assert_eq!(max_ejectable(4, 50), 2);
        assert_eq!(max_ejectable(4, 100), 4);
        assert_eq!(max_ejectable(4, 0), 0);
        assert_eq!(max_ejectable(0, 50), 1);
    }

    #[test]
    fn panic_below_the_threshold_share() {
        assert!(!is_panic(1, 2, 50), "exactly half is not below half");
        assert!(is_panic(0, 2, 50));
        assert!(is_panic(1, 3, 50));
        assert!(!is_panic(0, 2, 0), "0 = never");
        assert!(is_panic(3, 4, 100));
        assert!(!is_panic(4, 4, 100));
    }

    #[test]
    fn ejection_grows_with_each_one_in_a_row_up_to_the_cap() {
        let c = cfg(3, 100);
        assert_eq!(ejection_ms(1, &c), 1000);
        assert_eq!(ejection_ms(2, &c), 2000);
        assert_eq!(ejection_ms(3, &c), 3000);
        assert_eq!(ejection_ms(4, &c), 3500);
        assert_eq!(ejection_ms(u32::MAX, &c), 3500);
        assert_eq!(next_multiplier(0, 0, 100, &c), 1);
        assert_eq!(next_multiplier(2, 1000, 1200, &c), 3);
        // In for max_ejection_time since the last one ended: forgotten.
        assert_eq!(next_multiplier(2, 1000, 4500, &c), 1);
    }

    #[test]
    fn failures_in_a_row_eject_and_success_resets_the_count() {
        let u = upstream(2);
        let (a, c) = (&u.servers[0], cfg(3, 50));
        u.record_failure(a, &c, 10);
        u.record_failure(a, &c, 10);
        a.record_success();
        u.record_failure(a, &c, 10);
        u.record_failure(a, &c, 10);
        assert!(!a.is_ejected(10), "not in a row");
        u.record_failure(a, &c, 10);
        assert!(a.is_ejected(10) && a.is_ejected(1009) && !a.is_ejected(1010));
        assert_eq!(a.failures.load(Relaxed), 0);
        // Failures while ejected (requests that were in flight) change nothing.
        for _ in 0..5 {
            u.record_failure(a, &c, 20);
        }
        assert_eq!(a.ejected_until.load(Relaxed), 1010);
        // Back, failing again: the second ejection lasts twice as long.
        u.record_failure(a, &c, 1100);
        assert_eq!(a.ejected_until.load(Relaxed), 1100 + 2000);
        assert_eq!(a.ejections.load(Relaxed), 2);
        assert_eq!(u.healthy(1500), 1);
    }

    #[test]
    fn max_ejection_percent_holds() {
        let u = upstream(4);
        let c = cfg(1, 50);
        for s in &u.servers {
            u.record_failure(s, &c, 10);
        }
        assert_eq!(u.healthy(10), 2, "at most half of 4 ejected");
        let none = cfg(1, 0);
        let v = upstream(2);
        v.record_failure(&v.servers[0], &none, 10);
        assert_eq!(v.healthy(10), 2);
        let off = cfg(0, 100);
        let w = upstream(1);
        w.record_failure(&w.servers[0], &off, 10);
        assert_eq!(
            w.servers[0].failures.load(Relaxed),
            0,
            "0 = off: not even counted"
        );
        assert_eq!(w.healthy(10), 1);
    }

    #[test]
    fn each_return_is_reported_once() {
        let u = upstream(2);
        let (a, c) = (&u.servers[0], cfg(1, 50));
        u.record_failure(a, &c, 0);
        assert_eq!(a.unreported.load(Relaxed), 1000);
        a.report_return(999);
        assert_eq!(a.unreported.load(Relaxed), 1000, "not over yet");
        assert!(a.maybe_unhealthy());
        a.report_return(1000);
        assert_eq!(a.unreported.load(Relaxed), 0);
        assert!(!a.maybe_unhealthy());
        // Ejected again before anyone looked: the ejection reports the return.
        u.record_failure(a, &c, 1500);
        assert_eq!(a.unreported.load(Relaxed), 1500 + 2000);
        u.record_failure(a, &c, 5000);
        assert_eq!(a.unreported.load(Relaxed), 5000 + 3000);
    }

    #[test]
    fn sweep_follows_panic() {
        let u = upstream(2);
        let c = cfg(1, 100);
        u.sweep(0, &c);
        assert!(!u.panic.load(Relaxed));
        u.record_failure(&u.servers[0], &c, 0);
        u.record_failure(&u.servers[1], &c, 0);
        u.sweep(1, &c);
        assert!(u.panic.load(Relaxed));
        u.sweep(5000, &c);
        assert!(!u.panic.load(Relaxed));
        assert_eq!(u.servers[0].unreported.load(Relaxed), 0);
    }
}
