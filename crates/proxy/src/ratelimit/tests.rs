//! The table's behaviour: what a limited client sees, what a flood of keys
//! does to it, and what the Redis backend relies on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// 100/s: T = 10 ms.
const T: Duration = Duration::from_millis(10);

fn limit(burst: u32) -> Limit {
    Limit {
        interval_ns: T.as_nanos() as u64,
        burst,
    }
}

fn allowed(v: Verdict) -> bool {
    matches!(v, Verdict::Allowed { .. })
}

#[test]
fn tables_are_send_and_sync() {
    fn both<X: Send + Sync>() {}
    both::<Table>();
}

#[test]
fn a_full_bucket_admits_the_burst_then_one_per_interval() {
    let t = Table::with_seed(64, limit(3), false, 1);
    let now = Instant::now();
    let key = key_hash(b"client");
    for left in [2, 1, 0] {
        assert_eq!(t.check(key, now), Verdict::Allowed { remaining: left });
    }
    let Verdict::Limited { retry_after } = t.check(key, now) else {
        panic!("the fourth request at once is over the burst");
    };
    // The next request fits one interval later (16 ns rounding).
    assert!(retry_after <= T && retry_after > T - Duration::from_micros(1));
    assert!(!allowed(t.check(key, now + retry_after / 2)));
    assert!(allowed(t.check(key, now + retry_after)));
    assert!(!allowed(t.check(key, now + retry_after)));
    // Over a long stretch, exactly one request per interval is admitted.
    let start = now + Duration::from_secs(1);
    let n = (0..10_000)
        .filter(|i| allowed(t.check(key, start + Duration::from_micros(100 * i))))
        .count();
    // The refilled burst of 3 at the start, then one at each of 10 ms,
    // 20 ms, … 990 ms (the window ends at 999.9 ms).
    assert_eq!(n, 3 + 99, "{n}");
}

#[test]
fn keys_do_not_share_buckets() {
    let t = Table::with_seed(1024, limit(1), false, 7);
    let now = Instant::now();
    let (a, b) = (key_hash(b"a"), key_hash(b"b"));
    assert!(allowed(t.check(a, now)));
    assert!(!allowed(t.check(a, now)));
    assert!(allowed(t.check(b, now)), "b has its own bucket");
    assert_eq!(t.take_evictions(), 0);
}

#[test]
fn sizes_round_up_to_whole_sets_of_a_power_of_two() {
    assert_eq!(Table::new(0, limit(1), false).slots(), WAYS);
    assert_eq!(Table::new(5, limit(1), false).slots(), 8);
    assert_eq!(Table::new(65_536, limit(1), false).slots(), 65_536);
    assert_eq!(Table::new(1, limit(0), false).limit().burst, 1);
}

/// One set: the fifth key in debt evicts the one with the least debt.
#[test]
fn a_full_set_evicts_the_smallest_debt_and_counts_it() {
    let t = Table::with_seed(WAYS, limit(10), false, 3);
    let now = Instant::now();
    let keys: Vec<u64> = (0..5u64).map(|i| (i + 1) << 48 | i).collect();
    // Debts 4, 3, 2, 1 requests' worth.
    for (k, n) in keys.iter().take(4).zip([4, 3, 2, 1]) {
        (0..n).for_each(|_| assert!(allowed(t.check(*k, now))));
    }
    assert_eq!(t.take_evictions(), 0);
    assert!(allowed(t.check(keys[4], now)));
    assert_eq!(t.take_evictions(), 1);
    assert_eq!(t.take_evictions(), 0, "taken once");
    // keys[3] (one request of debt) was evicted: it is back with a full
    // bucket of 10; keys[0] kept its debt of 4 (6 left).
    let left = |k| match t.check(k, now) {
        Verdict::Allowed { remaining } => remaining,
        Verdict::Limited { .. } => panic!("limited"),
    };
    assert_eq!(left(keys[0]), 5);
    assert_eq!(t.take_evictions(), 0);
}

#[test]
fn buckets_that_refilled_are_reused_without_an_eviction() {
    let t = Table::with_seed(WAYS, limit(2), false, 3);
    let now = Instant::now();
    for i in 0..WAYS as u64 {
        assert!(allowed(t.check((i + 1) << 48, now)));
    }
    // One interval later every bucket is full again: new keys take them.
    let later = now + T;
    for i in 10..20u64 {
        assert!(allowed(t.check((i + 1) << 48, later + T * i as u32)));
    }
    assert_eq!(t.take_evictions(), 0);
}

#[test]
fn a_million_keys_fit_in_a_fixed_table() {
    let t = Table::with_seed(1024, limit(5), false, 11);
    let now = Instant::now();
    for i in 0..1_000_000u64 {
        t.check(key_hash(&i.to_le_bytes()), now);
    }
    assert_eq!(t.slots(), 1024);
    // All at one instant, so every bucket stays in debt: each key past the
    // first 1024 evicts one, except the few whose 16-bit tag collides with
    // a key already in their set (they share its bucket: ≈ 4/65536 each).
    let evicted = t.take_evictions();
    assert!(evicted <= 1_000_000 - 1024, "{evicted}");
    assert!(evicted > 1_000_000 - 1024 - 500, "{evicted}");
}

/// Shards racing on one bucket admit exactly the burst between them.
#[test]
fn concurrent_checks_admit_exactly_the_burst() {
    let t = Arc::new(Table::with_seed(64, limit(1000), false, 5));
    let now = Instant::now();
    let admitted = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (t, admitted) = (t.clone(), admitted.clone());
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    if allowed(t.check(key_hash(b"hot"), now)) {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(admitted.load(Ordering::Relaxed), 1000);
}

#[test]
fn pending_counts_are_drained_once() {
    let t = Table::with_seed(64, limit(10), true, 5);
    let now = Instant::now();
    let (a, b) = (key_hash(b"a"), key_hash(b"b"));
    (0..3).for_each(|_| assert!(allowed(t.check(a, now))));
    assert!(allowed(t.check(b, now)));
    let mut seen = Vec::new();
    t.drain_pending(|k, n| seen.push((k, n)));
    seen.sort_unstable();
    let mut want = vec![(a, 3), (b, 1)];
    want.sort_unstable();
    assert_eq!(seen, want);
    let mut again = 0;
    t.drain_pending(|_, _| again += 1);
    assert_eq!(again, 0);
    // Limited requests are not admissions.
    (0..20).for_each(|_| {
        t.check(a, now);
    });
    let mut total = 0;
    t.drain_pending(|_, n| total += n);
    assert_eq!(total, 7);
    // Without sync there is nothing to drain.
    let plain = Table::with_seed(64, limit(10), false, 5);
    plain.check(a, now);
    plain.drain_pending(|_, _| panic!("not a sync table"));
}

#[test]
fn remote_charges_spend_the_bucket_up_to_a_cap() {
    let t = Table::with_seed(64, limit(5), true, 5);
    let now = Instant::now();
    let k = key_hash(b"fleet");
    t.charge(k, 4, now);
    assert_eq!(t.check(k, now), Verdict::Allowed { remaining: 0 });
    assert!(!allowed(t.check(k, now)));
    // A huge charge is capped at burst × T + 1 s: the key is admitted again
    // after at most that long, not after a million intervals.
    t.charge(k, 1_000_000, now);
    let Verdict::Limited { retry_after } = t.check(k, now) else {
        panic!("charged");
    };
    assert!(retry_after <= Duration::from_secs(1) + T, "{retry_after:?}");
    assert!(retry_after > Duration::from_millis(990), "{retry_after:?}");
    assert!(allowed(t.check(k, now + retry_after)));
    // Charges are not local admissions.
    let mut total = 0;
    t.drain_pending(|_, n| total += n);
    assert_eq!(total, 2);
}

#[test]
fn key_hashes_are_pinned() {
    // Gateways of a fleet (and of different versions) must agree: these
    // values may never change.
    assert_eq!(key_hash(b""), 0x0ac7_55c3_e78b_6cd5);
    assert_eq!(key_hash(b"alice"), key_hash(b"alice"));
    assert_ne!(key_hash(b"alice"), key_hash(b"alicf"));
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped());
    assert_eq!(key_hash_ip(v4), key_hash(&[192, 0, 2, 9]));
    assert_eq!(key_hash_ip(mapped), key_hash_ip(v4));
    assert_ne!(
        key_hash_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        key_hash_ip(v4)
    );
}
