//! Request-head parsing (`shardgate_http::parse_request`): httparse plus the
//! framing and Host checks, on three head sizes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardgate_benches::requests;
use shardgate_http::{parse_request, HeaderStore, Limits, Parsed};

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse_request");
    for (name, req) in requests::ALL {
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut store = HeaderStore::new();
                match parse_request(black_box(req), &limits, &mut store) {
                    Ok(Parsed::Complete(head)) => head.head_len,
                    _ => panic!("{name} must parse"),
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
