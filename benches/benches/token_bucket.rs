//! Token bucket: the allowed path (refill + take), the refused path, and the
//! push-back computation.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_proxy::TokenBucket;

fn bucket(c: &mut Criterion) {
    let mut g = c.benchmark_group("token_bucket");
    let step = Duration::from_nanos(100);

    // 1e9/s with 100 ns steps earns 100 tokens per call: always allowed.
    let t0 = Instant::now();
    let mut allowed = TokenBucket::new(1_000_000_000, 1000, t0);
    let mut now = t0;
    g.bench_function("try_take_allowed", |b| {
        b.iter(|| {
            now += step;
            assert!(allowed.try_take(black_box(now), 1));
        })
    });

    // Drained and refilling at 1/s: every call is refused.
    let mut refused = TokenBucket::new(1, 10, t0);
    assert!(refused.try_take(t0, 10));
    let mut now = t0;
    g.bench_function("try_take_refused", |b| {
        b.iter(|| {
            now += step;
            black_box(refused.try_take(black_box(now), 1))
        })
    });

    let until = refused.clone();
    g.bench_function("time_until", |b| {
        b.iter(|| until.time_until(black_box(t0), black_box(3)))
    });
    g.finish();
}

criterion_group!(benches, bucket);
criterion_main!(benches);
