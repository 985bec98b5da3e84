//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "h3load", version, about = "wrk-like HTTP/3 load generator")]
pub struct Args {
    /// QUIC connections in total (default 10; 1 with --download).
    #[arg(short = 'c', long)]
    pub connections: Option<usize>,
    /// Concurrent requests (streams) per connection (default 1).
    #[arg(short = 's', long)]
    pub streams: Option<usize>,
    /// Recorded duration: 10s, 500ms, 1m or plain seconds.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unrecorded load before the recorded duration.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// OS threads (each its own runtime and UDP socket); connections are dealt round-robin.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,
    /// https://host:port/path
    #[arg(long)]
    pub url: String,
    /// Accept any server certificate.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// TLS server name (default: the URL's host).
    #[arg(long)]
    pub sni: Option<String>,
    /// PEM file of trusted certificates (when not --insecure).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Bulk download: defaults to 1 connection x 1 stream; the summary leads with MB/s.
    #[arg(long)]
    pub download: bool,
    /// Offer only the post-quantum hybrid key exchange X25519MLKEM768: its key share makes
    /// the ClientHello span two Initial datagrams (what steering must keep on one shard).
    #[arg(long)]
    pub pq: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(format!("not a duration: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}
