//! Balancer pick: round robin and smooth weighted round robin over 4 and 16
//! servers, all available (the common case) and with one backing off.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_config::LbPolicy;
use shardgate_proxy::Balancer;

fn pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("balancer_pick");
    let w4: &[u32] = &[5, 1, 1, 3];
    let w16: Vec<u32> = (1..=16).collect();
    let cases: [(&str, LbPolicy, &[u32]); 4] = [
        ("rr_4", LbPolicy::RoundRobin, w4),
        ("rr_16", LbPolicy::RoundRobin, &w16),
        ("wrr_4", LbPolicy::WeightedRoundRobin, w4),
        ("wrr_16", LbPolicy::WeightedRoundRobin, &w16),
    ];
    for (name, policy, weights) in cases {
        let mut all = Balancer::new(policy, weights);
        g.bench_function(name, |b| {
            b.iter(|| all.pick(|i| black_box(i) < usize::MAX).expect("available"))
        });
        let mut down = Balancer::new(policy, weights);
        g.bench_function(format!("{name}_one_down"), |b| {
            b.iter(|| down.pick(|i| black_box(i) != 1).expect("available"))
        });
    }
    g.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
