//! Upstream pool bookkeeping: one checkout + checkin cycle on a pool holding
//! 16 idle connections (stand-ins: integers), with and without idle-timeout
//! jitter (the jittered deadline costs an RNG draw and float maths).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_config::PoolConfig;
use shardgate_proxy::{Pool, Rng};

fn cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_checkout_checkin");
    for (name, jitter) in [("no_jitter", 0.0), ("jitter_0.1", 0.1)] {
        let cfg = PoolConfig {
            max_idle_per_host: 256,
            max_conns_per_host: 0,
            idle_timeout: Duration::from_secs(60),
            idle_timeout_jitter: jitter,
            ..PoolConfig::default()
        };
        let mut pool: Pool<u64> = Pool::new(&cfg);
        let mut rng = Rng::new(7);
        let t0 = Instant::now();
        for i in 0..16 {
            pool.on_open();
            assert!(pool.checkin(i, t0, &mut rng).is_ok());
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                let conn = pool.checkout(black_box(t0)).expect("16 idle");
                assert!(pool.checkin(conn, t0, &mut rng).is_ok());
            })
        });
        assert_eq!(pool.idle_len(), 16);
    }
    g.finish();
}

criterion_group!(benches, cycle);
criterion_main!(benches);
