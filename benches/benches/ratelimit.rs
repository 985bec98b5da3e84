//! One rate-limit check: hashing a key and the GCRA compare-and-swap, on one
//! hot key (the common case: a client within its limit), over many keys (a
//! table that misses and evicts), and with two threads on one shared bucket
//! (`sharing = "atomic"` under contention).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_proxy::{key_hash, key_hash_ip, Limit, Table};

/// Never limited within a benchmark run: 1M/s with a burst of 1M.
const LIMIT: Limit = Limit {
    interval_ns: 1_000,
    burst: 1_000_000,
};

fn check(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimit");
    let ip = std::net::IpAddr::from([192, 0, 2, 7]);
    g.bench_function("key_hash_ip", |b| b.iter(|| key_hash_ip(black_box(ip))));
    g.bench_function("key_hash_header_32B", |b| {
        b.iter(|| key_hash(black_box(b"7f3a9c2e-client-0042-aaaa-bbbbcc")))
    });
    let table = Table::new(65_536, LIMIT, false);
    let key = key_hash_ip(ip);
    g.bench_function("check_hot_key", |b| {
        b.iter(|| table.check(black_box(key), Instant::now()))
    });
    let mut i = 0u64;
    g.bench_function("check_new_key_each_time", |b| {
        b.iter(|| {
            i += 1;
            table.check(
                black_box(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                Instant::now(),
            )
        })
    });
    // A second thread hammers the same bucket meanwhile.
    let shared = Arc::new(Table::new(65_536, LIMIT, false));
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                shared.check(key, Instant::now());
            }
        })
    };
    g.bench_function("check_hot_key_contended", |b| {
        b.iter(|| shared.check(black_box(key), Instant::now()))
    });
    stop.store(true, Ordering::Relaxed);
    let _ = other.join();
    g.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
