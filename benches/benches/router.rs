//! Route lookup over a 100-route table: exact host, wildcard suffix, and the
//! fall-through to catch-all prefixes (the slowest class). Building the table
//! (once per config generation) is measured too.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use shardgate_benches::routes::{lookups, route_table};
use shardgate_proxy::Router;

fn lookup(c: &mut Criterion) {
    let cfg = route_table();
    let router = Router::new(&cfg);
    let mut g = c.benchmark_group("router_lookup_100_routes");
    for l in lookups() {
        assert_eq!(router.lookup(0, Some(l.host), l.path), Some(l.want));
        g.bench_function(l.name, |b| {
            b.iter(|| router.lookup(0, black_box(Some(l.host)), black_box(l.path)))
        });
    }
    g.finish();
    c.bench_function("router_build_100_routes", |b| {
        b.iter(|| Router::new(black_box(&cfg)))
    });
}

criterion_group!(benches, lookup);
criterion_main!(benches);
