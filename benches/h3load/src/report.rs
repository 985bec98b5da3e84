//! The human summary and the `H3LOAD_JSON` line.

use std::time::Duration;

use crate::{Args, Tally};

pub fn fmt_dur(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn fmt_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{us}us")
    }
}

pub fn report(args: &Args, conns: usize, streams: usize, duration: Duration, t: &Tally) {
    let secs = duration.as_secs_f64().max(1e-9);
    let rps = t.requests as f64 / secs;
    let mbps = t.bytes as f64 / secs / 1e6;
    let h = &t.hist;
    let (p50, p90, p99, max) = if t.requests > 0 {
        (
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.90),
            h.value_at_quantile(0.99),
            h.max(),
        )
    } else {
        (0, 0, 0, 0)
    };
    let mean = if t.requests > 0 { h.mean() } else { 0.0 };
    if args.download {
        println!("  Download: {mbps:.1} MB/s ({:.3} GB/s)", mbps / 1e3);
    }
    println!(
        "  Latency   mean {}  max {}",
        fmt_us(mean as u64),
        fmt_us(max)
    );
    println!("  Latency Distribution");
    for (label, v) in [("50%", p50), ("90%", p90), ("99%", p99)] {
        println!("     {label:>4}  {}", fmt_us(v));
    }
    println!(
        "  {} requests in {}, {:.2}MB read",
        t.requests,
        fmt_dur(duration),
        t.bytes as f64 / 1e6
    );
    let non2xx: u64 = t
        .status
        .iter()
        .filter(|(s, _)| !(200..400).contains(*s))
        .map(|(_, n)| n)
        .sum();
    if !t.errors.is_empty() {
        let list: Vec<String> = t.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  Errors: {}", list.join(", "));
    }
    if non2xx > 0 {
        println!("  Non-2xx or 3xx responses: {non2xx}");
    }
    println!("Requests/sec: {rps:>10.2}");
    println!("Transfer/sec: {mbps:>10.2}MB");
    let errors: Vec<String> = t
        .errors
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    let status: Vec<String> = t
        .status
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    println!(
        "H3LOAD_JSON {{\"connections\":{conns},\"streams\":{streams},\"duration_s\":{secs:.3},\
         \"requests\":{},\"rps\":{rps:.2},\"bytes\":{},\"mb_per_s\":{mbps:.3},\
         \"latency_us\":{{\"mean\":{mean:.1},\"p50\":{p50},\"p90\":{p90},\"p99\":{p99},\"max\":{max}}},\
         \"non2xx\":{non2xx},\"status\":{{{}}},\"errors\":{{{}}}}}",
        t.requests,
        t.bytes,
        status.join(","),
        errors.join(",")
    );
}
