//! Policies that take turns: round robin (weights ignored) and nginx's
//! smooth weighted round robin.

/// Where the next turn starts.
#[derive(Debug, Clone, Default)]
pub(super) struct Cursor(usize);

impl Cursor {
    /// The first server at or after the cursor for which `available(i)`;
    /// the cursor moves past the server picked, not merely by one, so an
    /// unavailable server's turn is not handed to its neighbour twice in a
    /// row.
    pub(super) fn next(&mut self, n: usize, available: impl Fn(usize) -> bool) -> Option<usize> {
        let i = self.scan(n).find(|&i| available(i))?;
        self.passed(i, n);
        Some(i)
    }

    /// Every index once, starting at the cursor.
    pub(super) fn scan(&self, n: usize) -> impl Iterator<Item = usize> {
        let start = if n == 0 { 0 } else { self.0 % n };
        (0..n).map(move |k| (start + k) % n)
    }

    /// The next scan starts after `i`.
    pub(super) fn passed(&mut self, i: usize, n: usize) {
        self.0 = if n == 0 { 0 } else { (i + 1) % n };
    }
}

/// nginx's `current_weight` per server.
#[derive(Debug, Clone)]
pub(super) struct Smooth {
    current: Vec<i64>,
}

impl Smooth {
    pub(super) fn new(n: usize) -> Self {
        Smooth {
            current: vec![0; n],
        }
    }

    /// nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every
    /// available server gains its weight, the largest `current` wins (first on
    /// ties) and pays back the total. Over one cycle of `sum(weights)` picks
    /// each server gets exactly its weight, interleaved rather than in bursts.
    /// Unavailable servers neither gain nor pay, so they rejoin without a burst.
    pub(super) fn pick(
        &mut self,
        weights: &[u32],
        available: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        let mut best_current = i64::MIN;
        for (i, (cur, &w)) in self.current.iter_mut().zip(weights).enumerate() {
            if !available(i) {
                continue;
            }
            let w = i64::from(w);
            *cur = cur.saturating_add(w);
            total = total.saturating_add(w);
            if best.is_none() || *cur > best_current {
                best = Some(i);
                best_current = *cur;
            }
        }
        let i = best?;
        if let Some(cur) = self.current.get_mut(i) {
            *cur = cur.saturating_sub(total);
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::counts;
    use super::*;

    fn turns(
        c: &mut Cursor,
        n: usize,
        k: usize,
        avail: impl Fn(usize) -> bool + Copy,
    ) -> Vec<usize> {
        (0..k).map(|_| c.next(n, avail).unwrap()).collect()
    }

    fn smooth(
        s: &mut Smooth,
        w: &[u32],
        k: usize,
        avail: impl Fn(usize) -> bool + Copy,
    ) -> Vec<usize> {
        (0..k).map(|_| s.pick(w, avail).unwrap()).collect()
    }

    #[test]
    fn round_robin_in_turn() {
        let mut c = Cursor::default();
        assert_eq!(turns(&mut c, 3, 7, |_| true), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn round_robin_skips_unavailable() {
        let mut c = Cursor::default();
        assert_eq!(turns(&mut c, 4, 6, |i| i != 1), [0, 2, 3, 0, 2, 3]);
        // Server 1 back: the cursor continues where it was (after 3 → 0).
        assert_eq!(turns(&mut c, 4, 4, |_| true), [0, 1, 2, 3]);
        assert_eq!(c.next(4, |_| false), None);
        assert_eq!(c.next(0, |_| true), None);
    }

    #[test]
    fn smooth_weighted_matches_nginx_sequence() {
        let w = [5, 1, 1];
        let mut s = Smooth::new(3);
        // nginx documents a a b a c a a for weights 5, 1, 1; it repeats every 7.
        let expected = [0, 0, 1, 0, 2, 0, 0];
        assert_eq!(smooth(&mut s, &w, 7, |_| true), expected);
        assert_eq!(smooth(&mut s, &w, 7, |_| true), expected);
    }

    #[test]
    fn smooth_weighted_exact_proportions_per_cycle() {
        let weights = [3, 2, 7, 1];
        let mut s = Smooth::new(4);
        let cycle: usize = weights.iter().map(|&w| w as usize).sum();
        for _ in 0..5 {
            assert_eq!(
                counts(&smooth(&mut s, &weights, cycle, |_| true), 4),
                weights
            );
        }
    }

    #[test]
    fn smooth_weighted_skips_unavailable() {
        let w = [5, 1, 1];
        let mut s = Smooth::new(3);
        // Without server 0 the remaining 1:1 alternate.
        assert_eq!(smooth(&mut s, &w, 4, |i| i != 0), [1, 2, 1, 2]);
        assert_eq!(s.pick(&w, |_| false), None);
        // Server 0 rejoins without a catch-up burst: still 5 of every 7.
        assert_eq!(counts(&smooth(&mut s, &w, 7, |_| true), 3), [5, 1, 1]);
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let w = [u32::MAX, u32::MAX, 1];
        let mut s = Smooth::new(3);
        let c = counts(&smooth(&mut s, &w, 1000, |_| true), 3);
        assert_eq!(c[2], 0);
        assert_eq!(c[0], 500);
    }
}
