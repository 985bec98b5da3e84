//! Balancer pick for every policy over 4 and 16 servers, all available (the
//! common case) and with one backing off. Load-aware policies read an idle
//! load; consistent hashing looks a different key up each time.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_config::{LbPolicy, UpstreamServer};
use shardgate_proxy::{Balancer, Load, PickInput, Rng};

fn servers(weights: &[u32]) -> Vec<UpstreamServer> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| UpstreamServer {
            address: std::net::SocketAddr::from(([10, 0, 0, i as u8], 80)),
            weight,
            host: None,
        })
        .collect()
}

fn pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("balancer_pick");
    let w4 = servers(&[5, 1, 1, 3]);
    let w16 = servers(&(1..=16).collect::<Vec<u32>>());
    let policies = [
        ("rr", LbPolicy::RoundRobin),
        ("wrr", LbPolicy::WeightedRoundRobin),
        ("lr", LbPolicy::LeastRequest),
        ("p2c", LbPolicy::P2c),
        ("random", LbPolicy::Random),
        ("ch", LbPolicy::ConsistentHash),
    ];
    let mut rng = Rng::new(1);
    let now = Instant::now();
    for (label, policy) in policies {
        for (n, list) in [(4, &w4), (16, &w16)] {
            let name = format!("{label}_{n}");
            let mut key = 0u64;
            let mut all = Balancer::new(policy, list, None);
            g.bench_function(&name, |b| {
                b.iter(|| {
                    key = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut input = PickInput {
                        now,
                        rng: &mut rng,
                        key: Some(key),
                    };
                    all.pick(
                        |i| black_box(i) < usize::MAX,
                        |_| Load::default(),
                        &mut input,
                    )
                    .expect("available")
                })
            });
            let mut down = Balancer::new(policy, list, None);
            g.bench_function(format!("{name}_one_down"), |b| {
                b.iter(|| {
                    key = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut input = PickInput {
                        now,
                        rng: &mut rng,
                        key: Some(key),
                    };
                    down.pick(|i| black_box(i) != 1, |_| Load::default(), &mut input)
                        .expect("available")
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
