//! The access log allocates nothing per line once warm: shard buffers
//! circulate between the shard and the writer thread. Its own test binary,
//! because the counting allocator is process-wide.

use std::alloc::System;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use shardgate_server::access_log::{escape, num, time, Sink};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A request's worth of fields, formatted the way a JSON line would be.
fn cycle(log: &mut shardgate_server::access_log::ShardLog, i: u64) {
    log.line(|b| {
        b.extend_from_slice(b"{\"time\":\"");
        time::rfc3339_millis(b, UNIX_EPOCH + Duration::from_millis(i));
        b.extend_from_slice(b"\",\"path\":\"");
        escape::json(b, b"/api/v1/items?q=\"x\"\xff", 2048);
        b.extend_from_slice(b"\",\"status\":");
        num::decimal(b, 200);
        b.push(b'}');
    });
    // A tick's worth of lines, then a pause for the writer to hand buffers
    // back (a real shard flushes every 25 ms).
    if i.is_multiple_of(512) {
        log.flush();
        std::thread::sleep(Duration::from_micros(300));
    }
}

#[test]
fn steady_state_lines_allocate_nothing() {
    let sink = Sink::with_writer(Box::new(std::io::sink()), 1).unwrap();
    let mut log = sink.shard_log(0);
    // Warm-up: a burst that outruns the writer, so that all of the shard's
    // buffers (made on first need) exist; then channels and thread-locals.
    for i in 0..20_000 {
        cycle(&mut log, i);
        log.flush();
    }
    for i in 0..50_000 {
        cycle(&mut log, i);
    }
    std::thread::sleep(Duration::from_millis(50));
    let dropped_before = log.dropped();
    let region = Region::new(GLOBAL);
    for i in 0..100_000 {
        cycle(&mut log, i);
    }
    let stats = region.change();
    let dropped = log.dropped() - dropped_before;
    drop(log);
    sink.close();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{stats:?}, dropped {dropped}");
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "{stats:?}"
    );
}
