//! Building the SO_REUSEPORT steering program (once per listener group at
//! start-up; measured so a regression in it is visible, not because it is hot).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_net::{steering_program, Steering};

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("steering_program");
    for (name, mode) in [("hash_8", Steering::Hash), ("cpu_8", Steering::Cpu)] {
        assert!(steering_program(mode, 8).is_some());
        g.bench_function(name, |b| {
            b.iter(|| steering_program(black_box(mode), black_box(8)))
        });
    }
    g.finish();
}

criterion_group!(benches, build);
criterion_main!(benches);
