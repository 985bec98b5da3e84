//! The limiter's arithmetic and each of its guards, on synthetic samples.

use super::*;

const WINDOW: Duration = Duration::from_millis(100);
const MS: Duration = Duration::from_millis(1);

fn cfg() -> AdaptiveConcurrencyConfig {
    AdaptiveConcurrencyConfig {
        min_limit: 3,
        max_limit: 200,
        initial_limit: 20,
        window: WINDOW,
        window_samples: 2,
        long_window: 20,
        tolerance: 1.5,
        smoothing: 0.2,
        probe_interval: Duration::from_secs(3600),
        probe_jitter: 0.0,
        probe_ratio: 0.5,
        status: 503,
    }
}

/// One window: `busy` requests admitted at once (as many as the cap lets
/// through), all answered in `rtt`, their answers spread over the window.
fn round(g: &mut Gradient2, busy: u32, rtt: Duration, t: &mut Instant) -> usize {
    let permits: Vec<Permit> = (0..busy).filter_map(|_| g.try_acquire()).collect();
    let n = permits.len();
    let gaps = u32::try_from(n.saturating_sub(1).max(1)).unwrap();
    for (i, p) in permits.into_iter().enumerate() {
        let at = *t + WINDOW * u32::try_from(i).unwrap() / gaps;
        g.release(p, Some((rtt, at)));
    }
    *t += WINDOW + MS;
    n
}

#[test]
fn one_step_is_the_gradient2_formula() {
    let mut g = Gradient2::new(cfg(), 1);
    let mut t = Instant::now();
    // The first window sets the baseline (1 ms); short = long: gradient 1,
    // estimate 20 + √20, smoothed by 0.2.
    round(&mut g, 20, MS, &mut t);
    let want = 0.8 * 20.0 + 0.2 * (20.0 + 20f64.sqrt());
    assert!((g.limit - want).abs() < 1e-9, "{} vs {want}", g.limit);
    assert_eq!(g.baseline(), Some(MS));
    // 4 ms against a 1 ms baseline: tolerance 1.5 × 1/4 clamps at 0.5.
    let before = g.limit;
    round(&mut g, 10, 4 * MS, &mut t);
    let want = 0.8 * before + 0.2 * (0.5 * before + before.sqrt());
    assert!((g.limit - want).abs() < 1e-9, "{} vs {want}", g.limit);
    // 2 ms: gradient 1.5 × 1 / 2 = 0.75 (the baseline did not move up: the
    // window was loaded).
    let before = g.limit;
    round(&mut g, 10, 2 * MS, &mut t);
    assert_eq!(g.baseline(), Some(MS));
    let want = 0.8 * before + 0.2 * (0.75 * before + before.sqrt());
    assert!((g.limit - want).abs() < 1e-9, "{} vs {want}", g.limit);
}

#[test]
fn latency_up_shrinks_to_the_floor_and_latency_down_recovers() {
    let mut g = Gradient2::new(cfg(), 1);
    let mut t = Instant::now();
    for _ in 0..40 {
        round(&mut g, 1000, MS, &mut t);
    }
    let high = g.limit();
    assert!(high > 60, "{high}");
    // 1 ms → 50 ms under full load: the gradient clamps at 0.5, and
    // 0.5 × L + √L = L holds at L = 4: that is where it settles (within a
    // few dozen windows; the last step is slow), above min_limit = 3.
    let mut windows = 0;
    while g.limit() > 5 {
        round(&mut g, 1000, 50 * MS, &mut t);
        windows += 1;
        assert!(windows < 60, "still {} after {windows} windows", g.limit());
    }
    for _ in 0..100 {
        round(&mut g, 1000, 50 * MS, &mut t);
        assert!(g.limit() >= 4, "{}", g.limit());
    }
    assert_eq!(g.limit(), 4);
    assert_eq!(g.cap(), 4);
    // Back to 1 ms: it grows again (by √limit per window, smoothed).
    let mut windows = 0;
    while g.limit() < high {
        round(&mut g, 1000, MS, &mut t);
        windows += 1;
        assert!(windows < 200, "still {} after {windows} windows", g.limit());
    }
}

#[test]
fn the_limit_stays_within_min_and_max_and_the_cap_admits_that_many() {
    let mut c = cfg();
    c.max_limit = 25;
    let mut g = Gradient2::new(c, 1);
    let mut t = Instant::now();
    for _ in 0..50 {
        round(&mut g, 1000, MS, &mut t);
    }
    assert_eq!(g.limit(), 25);
    let held: Vec<Permit> = (0..30).filter_map(|_| g.try_acquire()).collect();
    assert_eq!(held.len(), 25);
    assert_eq!(g.in_flight(), 25);
    assert!(g.try_acquire().is_none());
    for p in held {
        g.release(p, None);
    }
    assert_eq!(g.in_flight(), 0);
    assert_eq!(whole(0.2), 1, "at least one request is always let through");
}

#[test]
fn requests_without_a_sample_never_move_the_limit() {
    // Failures, timeouts, refusals: released with no RTT.
    let mut g = Gradient2::new(cfg(), 1);
    let mut t = Instant::now();
    for _ in 0..100 {
        let held: Vec<Permit> = (0..50).filter_map(|_| g.try_acquire()).collect();
        for p in held {
            g.release(p, None);
        }
        t += WINDOW;
    }
    assert_eq!(g.limit(), 20);
    assert_eq!(g.baseline(), None);
    assert_eq!(g.window.count(), 0);
}

#[test]
fn error_and_refusal_statuses_are_not_samples() {
    for s in [200, 204, 301, 304, 404, 499] {
        assert!(is_sample(s), "{s}");
    }
    for s in [429, 500, 502, 503, 504, 599] {
        assert!(!is_sample(s), "{s}");
    }
}

#[test]
fn an_app_limited_upstream_does_not_grow_the_limit() {
    let mut g = Gradient2::new(cfg(), 1);
    let mut t = Instant::now();
    // 9 in flight of 20 (< half): fast answers, yet no growth.
    for _ in 0..50 {
        round(&mut g, 9, MS, &mut t);
    }
    assert_eq!(g.limit(), 20);
    // 10 of 20 is half in use: it grows.
    round(&mut g, 10, MS, &mut t);
    assert!(g.limit > 20.0, "{}", g.limit);
    // App-limited and slower: it may still shrink.
    let before = g.limit;
    round(&mut g, 3, 10 * MS, &mut t);
    assert!(g.limit < before, "{} vs {before}", g.limit);
}

#[test]
fn sustained_load_never_ratchets_the_baseline_up() {
    let mut g = Gradient2::new(cfg(), 1);
    let mut t = Instant::now();
    round(&mut g, 20, 10 * MS, &mut t);
    assert_eq!(g.baseline(), Some(10 * MS));
    // Our own queueing doubles the RTT, for a long time, at full load: the
    // baseline stays, and the limit settles where 0.75 × L + √L = L
    // (L = 16) instead of creeping up with a drifting baseline.
    for _ in 0..500 {
        round(&mut g, 1000, 20 * MS, &mut t);
        assert!(g.limit() <= 20, "{}", g.limit());
    }
    assert_eq!(g.baseline(), Some(10 * MS));
    assert!((15..=16).contains(&g.limit()), "{}", g.limit());
    // Faster windows pull it down whatever the load.
    round(&mut g, 1000, 5 * MS, &mut t);
    let b = g.baseline().unwrap();
    assert!(b < 10 * MS && b > 5 * MS, "{b:?}");
    // Not even app-limited windows move it up: "less than half of the limit
    // in use" says nothing about the origin's own queue when the limit is
    // far above its capacity. Only a probe raises it.
    let mut g = Gradient2::new(cfg(), 1);
    round(&mut g, 20, 10 * MS, &mut t);
    for _ in 0..50 {
        round(&mut g, 4, 20 * MS, &mut t);
    }
    assert_eq!(g.baseline(), Some(10 * MS));
    assert!(
        g.limit() < 20,
        "app-limited and slower: it shrinks, {}",
        g.limit()
    );
}

#[test]
fn a_probe_measures_at_its_own_level_and_replaces_the_baseline() {
    let mut c = cfg();
    c.min_limit = 1;
    c.probe_interval = Duration::from_secs(10);
    c.probe_ratio = 0.5;
    let mut g = Gradient2::new(c, 1);
    let start = Instant::now();
    let mut t = start;
    // Grow at 1 ms (the probe is scheduled 10 s after the first sample).
    while g.limit() < 40 {
        round(&mut g, 1000, MS, &mut t);
    }
    // The origin becomes slower for good (not our queueing): at full load
    // the baseline stays at 1 ms and the limit falls, until the probe.
    while !g.probing() {
        round(&mut g, 1000, 30 * MS, &mut t);
        assert!(t < start + Duration::from_secs(11), "no probe by {t:?}");
    }
    assert!(t >= start + Duration::from_secs(10), "probe too early");
    assert!(g.baseline().unwrap() < 2 * MS);
    // The probe's cap is its own share of what was in use (the whole
    // limit here), not min_limit = 1.
    let limit = g.limit();
    assert!(limit >= 4, "{limit}");
    assert_eq!(g.cap(), whole(f64::from(limit) * 0.5));
    assert!(g.cap() > 1);
    // A request admitted before the probe is no sample of it.
    let before = g.window.count();
    let stale = Permit {
        epoch: g.epoch.wrapping_sub(1),
    };
    g.in_flight += 1;
    g.release(stale, Some((500 * MS, t)));
    assert_eq!(g.window.count(), before);
    // The probe's own answers (30 ms at low concurrency) become the
    // baseline, and the limit stops falling.
    round(&mut g, 1000, 30 * MS, &mut t);
    assert!(!g.probing());
    assert_eq!(g.baseline(), Some(30 * MS));
    let after_probe = g.limit;
    round(&mut g, 1000, 30 * MS, &mut t);
    assert!(g.limit > after_probe, "{} vs {after_probe}", g.limit);
}

#[test]
fn a_probe_runs_below_what_was_in_use_when_that_is_under_the_limit() {
    let mut c = cfg();
    c.probe_interval = Duration::from_secs(1);
    let mut g = Gradient2::new(c, 1);
    let start = Instant::now();
    let mut t = start;
    // 12 in flight of a limit of 20 (not app-limited), 1 ms.
    while !g.probing() {
        round(&mut g, 12, MS, &mut t);
        assert!(t < start + Duration::from_secs(2), "no probe");
    }
    assert!(g.limit() > 12);
    assert_eq!(g.cap(), 6, "half of the 12 in use, not half of the limit");
}

#[test]
fn probes_are_jittered() {
    let mut c = cfg();
    c.probe_interval = Duration::from_secs(60);
    c.probe_jitter = 0.15;
    let now = Instant::now();
    let dues: Vec<Duration> = (0..50)
        .map(|seed| Gradient2::new(c, seed).next_probe(now) - now)
        .collect();
    for d in &dues {
        assert!(
            (51.0..=69.0).contains(&d.as_secs_f64()),
            "{d:?} outside 60 s ± 15 %"
        );
    }
    let mut distinct = dues.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 40, "{dues:?}");
}

#[test]
fn a_reload_keeps_the_state_unless_the_table_changed() {
    let mut g = Gradient2::new(cfg(), 1);
    let mut t = Instant::now();
    round(&mut g, 20, MS, &mut t);
    let held = g.try_acquire().unwrap();
    let limit = g.limit;
    g.reconfigure(cfg());
    assert_eq!(g.limit, limit);
    let mut c = cfg();
    c.initial_limit = 7;
    g.reconfigure(c);
    assert_eq!(g.limit(), 7);
    assert_eq!(g.in_flight(), 1, "the request in flight is still counted");
    g.release(held, None);
    assert_eq!(g.in_flight(), 0);
}
