//! Load-aware policies: least request (fewest in flight on this shard,
//! relative to the weight) and power of two choices (the cheaper of two
//! random servers by peak-EWMA latency × (in flight + 1)).

use std::time::Instant;

use super::rotation::Cursor;
use super::Load;
use crate::Rng;

/// The server with the fewest requests in flight per unit of weight
/// (`in_flight / weight`, compared by cross-multiplying, exact). Among
/// equals the scan starts at the cursor and the cursor moves past the
/// winner, so equally loaded servers take turns instead of the first one
/// taking every request of a quiet period.
pub(super) fn least_request(
    cursor: &mut Cursor,
    weights: &[u32],
    available: impl Fn(usize) -> bool,
    load: impl Fn(usize) -> Load,
) -> Option<usize> {
    let n = weights.len();
    let mut best: Option<(usize, u64, u64)> = None;
    for i in cursor.scan(n) {
        if !available(i) {
            continue;
        }
        let f = u64::from(load(i).in_flight);
        let w = u64::from(weights.get(i).copied().unwrap_or(1));
        // f / w < bf / bw, in integers (both factors < 2³², no overflow).
        if best.is_none_or(|(_, bf, bw)| f * bw < bf * w) {
            best = Some((i, f, w));
        }
    }
    let (i, _, _) = best?;
    cursor.passed(i, n);
    Some(i)
}

/// Power of two choices: two distinct servers drawn uniformly among the
/// available ones, the cheaper wins. Cost = latency estimate ×
/// (in flight + 1), so a fast but busy server and an idle but slow one are
/// weighed against each other; on equal cost the one with fewer in flight wins
/// (which also decides when every estimate has decayed to zero).
pub(super) fn p2c(
    n: usize,
    available: impl Fn(usize) -> bool,
    load: impl Fn(usize) -> Load,
    now: Instant,
    rng: &mut Rng,
) -> Option<usize> {
    if n <= 1 {
        return (n == 1 && available(0)).then_some(0);
    }
    // Drawn among all servers first: when both may take the request (the
    // usual case) nothing else is asked. Otherwise drawn again among the
    // available ones; the mix of the two draws is still uniform over the
    // pairs of available servers.
    let (a, b) = distinct_pair(n, rng);
    let (a, b) = if available(a) && available(b) {
        (a, b)
    } else {
        let m = (0..n).filter(|&i| available(i)).count();
        if m <= 1 {
            return (0..n).find(|&i| available(i));
        }
        let (x, y) = distinct_pair(m, rng);
        let nth = |k: usize| (0..n).filter(|&i| available(i)).nth(k);
        (nth(x)?, nth(y)?)
    };
    let (la, lb) = (load(a), load(b));
    let cost = |l: &Load| l.latency.estimate(now) * (f64::from(l.in_flight) + 1.0);
    let (ca, cb) = (cost(&la), cost(&lb));
    Some(if cb < ca || (cb == ca && lb.in_flight < la.in_flight) {
        b
    } else {
        a
    })
}

/// Two different indices below `n` (≥ 2), uniformly.
fn distinct_pair(n: usize, rng: &mut Rng) -> (usize, usize) {
    let n64 = n as u64;
    let a = rng.next_u64() % n64;
    let mut b = rng.next_u64() % (n64 - 1);
    if b >= a {
        b += 1;
    }
    (a as usize, b as usize)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::ewma::{PeakEwma, DECAY};
    use super::super::testing::counts;
    use super::*;

    /// A least-request balancer's state over these weights.
    struct Lr(Cursor, Vec<u32>);

    fn lr(weights: &[u32]) -> Lr {
        Lr(Cursor::default(), weights.to_vec())
    }

    fn lr_pick(b: &mut Lr, loads: &[Load], available: impl Fn(usize) -> bool) -> Option<usize> {
        least_request(&mut b.0, &b.1, available, |i| loads[i])
    }

    fn p2c_pick(
        rng: &mut Rng,
        now: Instant,
        loads: &[Load],
        available: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        p2c(loads.len(), available, |i| loads[i], now, rng)
    }

    fn in_flight(counts: &[u32]) -> Vec<Load> {
        counts
            .iter()
            .map(|&c| Load {
                in_flight: c,
                latency: PeakEwma::default(),
            })
            .collect()
    }

    #[test]
    fn least_request_takes_the_least_loaded() {
        let mut b = lr(&[1, 1, 1]);
        let loads = in_flight(&[3, 1, 2]);
        for _ in 0..5 {
            assert_eq!(lr_pick(&mut b, &loads, |_| true), Some(1));
        }
        // The least loaded is unavailable: the next least.
        assert_eq!(lr_pick(&mut b, &loads, |i| i != 1), Some(2));
        assert_eq!(lr_pick(&mut b, &loads, |_| false), None);
        assert_eq!(lr_pick(&mut lr(&[]), &[], |_| true), None);
    }

    #[test]
    fn least_request_equal_servers_take_turns() {
        let mut b = lr(&[1, 1, 1]);
        let idle = in_flight(&[0, 0, 0]);
        let picks: Vec<usize> = (0..7)
            .map(|_| lr_pick(&mut b, &idle, |_| true).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        // Ties among the least loaded only: 0 and 2 alternate, 1 is busier.
        let loads = in_flight(&[0, 4, 0]);
        let picks: Vec<usize> = (0..4)
            .map(|_| lr_pick(&mut b, &loads, |_| true).unwrap())
            .collect();
        assert_eq!(picks, [2, 0, 2, 0]);
    }

    #[test]
    fn least_request_divides_by_weight() {
        let mut b = lr(&[3, 1]);
        // 5/3 < 2/1: the heavier server takes more before it counts as busier.
        assert_eq!(lr_pick(&mut b, &in_flight(&[5, 2]), |_| true), Some(0));
        // 7/3 > 2/1.
        assert_eq!(lr_pick(&mut b, &in_flight(&[7, 2]), |_| true), Some(1));
        // Simulated: requests that never finish spread 3 : 1.
        let mut b = lr(&[3, 1]);
        let mut held = [0u32, 0];
        for _ in 0..400 {
            let i = lr_pick(&mut b, &in_flight(&held), |_| true).unwrap();
            held[i] += 1;
        }
        assert_eq!(held, [300, 100]);
    }

    /// A load whose estimate is exactly `ttfb` (or the penalty) at the
    /// returned instant: the neutral start has decayed away by then.
    fn latency(ttfb: Duration, status: u16, in_flight: u32) -> (Load, Instant) {
        let t0 = Instant::now();
        let now = t0 + 100 * DECAY;
        let mut latency = PeakEwma::new(t0);
        latency.observe(ttfb, status, now);
        (Load { in_flight, latency }, now)
    }

    #[test]
    fn p2c_two_servers_always_take_the_cheaper() {
        let mut rng = Rng::new(9);
        let ms = Duration::from_millis(1);
        // 10 ms × 1 vs 30 ms × 1.
        let ((l0, now), (l1, _)) = (latency(10 * ms, 200, 0), latency(30 * ms, 200, 0));
        for _ in 0..50 {
            assert_eq!(p2c_pick(&mut rng, now, &[l0, l1], |_| true), Some(0));
        }
        // 10 ms × 4 in flight vs 30 ms × 1: the slower idle one is cheaper.
        let ((l0, now), (l1, _)) = (latency(10 * ms, 200, 3), latency(30 * ms, 200, 0));
        for _ in 0..50 {
            assert_eq!(p2c_pick(&mut rng, now, &[l0, l1], |_| true), Some(1));
        }
        // Equal cost (250 ms × 2 = 500 ms × 1, exact in binary): fewer in
        // flight wins, whichever is drawn first.
        let ((l0, now), (l1, _)) = (latency(250 * ms, 200, 1), latency(500 * ms, 200, 0));
        for _ in 0..50 {
            assert_eq!(p2c_pick(&mut rng, now, &[l0, l1], |_| true), Some(1));
            assert_eq!(p2c_pick(&mut rng, now, &[l1, l0], |_| true), Some(0));
        }
    }

    #[test]
    fn p2c_never_picks_the_most_expensive_of_several() {
        let mut rng = Rng::new(11);
        let ms = Duration::from_millis(1);
        // Server 2 answers 429 in 1 ms: counted as the penalty, so it is the
        // most expensive and loses every pair it is drawn into.
        let (fast, now) = latency(20 * ms, 200, 0);
        let (refusing, _) = latency(ms, 429, 0);
        let loads = [fast, fast, refusing, fast];
        let picks: Vec<usize> = (0..3000)
            .map(|_| p2c_pick(&mut rng, now, &loads, |_| true).unwrap())
            .collect();
        let c = counts(&picks, 4);
        assert_eq!(c[2], 0, "{c:?}");
        // Each of the others wins its pair with server 2 (1/6 of the pairs)
        // and half of its two pairs among equals (first drawn wins a tie):
        // a third each.
        for &k in &[c[0], c[1], c[3]] {
            assert!((850..1150).contains(&k), "{c:?}");
        }
    }

    #[test]
    fn p2c_equal_servers_spread_evenly() {
        let mut rng = Rng::new(13);
        let now = Instant::now();
        let loads = in_flight(&[0, 0, 0, 0, 0]);
        let picks: Vec<usize> = (0..10_000)
            .map(|_| p2c_pick(&mut rng, now, &loads, |_| true).unwrap())
            .collect();
        for k in counts(&picks, 5) {
            assert!((1800..2200).contains(&k), "{k}");
        }
    }

    #[test]
    fn p2c_draws_only_available_servers() {
        let mut rng = Rng::new(17);
        let now = Instant::now();
        let loads = in_flight(&[0; 6]);
        let avail = |i: usize| i == 1 || i == 4 || i == 5;
        let picks: Vec<usize> = (0..3000)
            .map(|_| p2c_pick(&mut rng, now, &loads, avail).unwrap())
            .collect();
        let c = counts(&picks, 6);
        assert_eq!((c[0], c[2], c[3]), (0, 0, 0), "{c:?}");
        for k in [c[1], c[4], c[5]] {
            assert!((850..1150).contains(&k), "{c:?}");
        }
        // One available: that one; none: nothing.
        assert_eq!(p2c_pick(&mut rng, now, &loads, |i| i == 3), Some(3));
        assert_eq!(p2c_pick(&mut rng, now, &loads, |_| false), None);
        assert_eq!(p2c_pick(&mut rng, now, &loads[..1], |_| true), Some(0));
        assert_eq!(p2c_pick(&mut rng, now, &loads[..1], |_| false), None);
        assert_eq!(p2c_pick(&mut rng, now, &[], |_| true), None);
    }

    #[test]
    fn pairs_are_distinct_and_uniform() {
        let mut rng = Rng::new(21);
        let mut seen = [[0u32; 3]; 3];
        for _ in 0..9000 {
            let (a, b) = distinct_pair(3, &mut rng);
            assert_ne!(a, b);
            seen[a][b] += 1;
        }
        for (a, row) in seen.iter().enumerate() {
            for (b, &k) in row.iter().enumerate() {
                if a != b {
                    assert!((1300..1700).contains(&k), "{seen:?}");
                }
            }
        }
    }
}
