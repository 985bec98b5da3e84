//! Random choice in proportion to the weights.

use crate::Rng;

/// A server drawn with probability `weight / sum of the available weights`.
/// The draw is made over every server first (`total` is their sum), so in
/// the usual case availability is asked once; when the drawn server may not
/// take the request, the draw is repeated over the available ones (the mix
/// of the two draws is still exactly proportional over those).
pub(super) fn weighted(
    weights: &[u32],
    total: u64,
    available: impl Fn(usize) -> bool,
    rng: &mut Rng,
) -> Option<usize> {
    if total == 0 {
        return None;
    }
    let everyone = weights.iter().map(|&w| u64::from(w)).enumerate();
    if let Some(i) = nth_weighted(everyone, rng.next_u64() % total) {
        if available(i) {
            return Some(i);
        }
    }
    let eligible = || {
        weights
            .iter()
            .map(|&w| u64::from(w))
            .enumerate()
            .filter(|&(i, _)| available(i))
    };
    let sum: u64 = eligible().map(|(_, w)| w).sum();
    if sum == 0 {
        return None;
    }
    nth_weighted(eligible(), rng.next_u64() % sum)
}

/// The server whose share of the line `[0, sum)` holds `point`.
fn nth_weighted(servers: impl Iterator<Item = (usize, u64)>, point: u64) -> Option<usize> {
    let mut end = 0u64;
    for (i, w) in servers {
        end += w;
        if point < end {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testing::counts;
    use super::*;

    fn seq(weights: &[u32], n: usize, avail: impl Fn(usize) -> bool + Copy) -> Vec<usize> {
        let total = weights.iter().map(|&w| u64::from(w)).sum();
        let mut rng = Rng::new(1);
        (0..n)
            .map(|_| weighted(weights, total, avail, &mut rng).unwrap())
            .collect()
    }

    /// Within `tolerance` (a share, e.g. 0.02) of `expected` shares.
    fn assert_shares(c: &[u32], expected: &[f64], tolerance: f64) {
        let total: u32 = c.iter().sum();
        for (k, (&got, &want)) in c.iter().zip(expected).enumerate() {
            let share = f64::from(got) / f64::from(total);
            assert!(
                (share - want).abs() <= tolerance,
                "server {k}: {share:.3} vs {want:.3} ({c:?})"
            );
        }
    }

    #[test]
    fn uniform_with_equal_weights() {
        let c = counts(&seq(&[1, 1, 1, 1], 20_000, |_| true), 4);
        assert_shares(&c, &[0.25; 4], 0.02);
    }

    #[test]
    fn proportional_to_weights() {
        let c = counts(&seq(&[1, 3, 6], 20_000, |_| true), 3);
        assert_shares(&c, &[0.1, 0.3, 0.6], 0.02);
    }

    #[test]
    fn proportional_among_the_available() {
        // Without server 2: 1 : 3 : 2.
        let c = counts(&seq(&[1, 3, 6, 2], 20_000, |i| i != 2), 4);
        assert_eq!(c[2], 0);
        assert_shares(&c, &[1.0 / 6.0, 0.5, 0.0, 2.0 / 6.0], 0.02);
    }

    #[test]
    fn nothing_to_draw_from() {
        let mut rng = Rng::new(2);
        assert_eq!(weighted(&[], 0, |_| true, &mut rng), None);
        assert_eq!(weighted(&[1, 2], 3, |_| false, &mut rng), None);
    }

    #[test]
    fn not_a_fixed_sequence() {
        let picks = seq(&[1, 1], 64, |_| true);
        // A rotation would alternate; a random draw repeats somewhere.
        assert!(picks.windows(2).any(|w| w[0] == w[1]), "{picks:?}");
    }
}
