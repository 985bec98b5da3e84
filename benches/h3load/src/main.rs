//! `h3load`: a wrk-like HTTP/3 load generator for the benchmark harness.
//!
//! `--connections C` QUIC connections, each with `--streams S` request loops (S requests in
//! flight per connection), spread over `--threads T` OS threads; every thread runs its own
//! single-threaded tokio runtime and its own UDP socket (quinn `Endpoint`). Connections are
//! set up before the clock starts; then `--warmup` (not recorded) and `--duration`
//! (recorded). A request counts when its whole body arrived inside the recorded window;
//! body bytes count as they arrive inside it. Prints a wrk-like summary and a last line
//! `H3LOAD_JSON {...}` for the harness.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{Buf, Bytes};
use clap::Parser;
use hdrhistogram::Histogram;

mod args;
mod report;
mod tls;

use args::Args;
use report::{fmt_dur, report};
use tls::client_config;

/// Latencies are recorded in µs, up to 10 minutes, 3 significant digits.
const HIST_MAX_US: u64 = 600_000_000;

/// The measurement window, the same for every thread.
#[derive(Clone, Copy)]
struct Timeline {
    from: Instant,
    end: Instant,
}

impl Timeline {
    fn recording(&self, t: Instant) -> bool {
        t >= self.from && t < self.end
    }
}

/// What one request loop (or a thread, or the whole run) measured.
struct Tally {
    requests: u64,
    bytes: u64,
    hist: Histogram<u64>,
    status: BTreeMap<u16, u64>,
    errors: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            requests: 0,
            bytes: 0,
            hist: Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("histogram bounds"),
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }

    fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn merge(&mut self, o: Tally) {
        self.requests += o.requests;
        self.bytes += o.bytes;
        self.hist.add(&o.hist).expect("same histogram bounds");
        for (k, v) in o.status {
            *self.status.entry(k).or_default() += v;
        }
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

struct Target {
    addr: SocketAddr,
    sni: String,
    uri: http::Uri,
    client: quinn::ClientConfig,
    timeout: Duration,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let conns = args
        .connections
        .unwrap_or(if args.download { 1 } else { 10 });
    let streams = args.streams.unwrap_or(1);
    if conns == 0 || streams == 0 || args.threads == 0 {
        bail!("--connections, --streams and --threads must be at least 1");
    }
    let threads = args.threads.min(conns);
    let uri: http::Uri = args.url.parse().context("--url")?;
    if uri.scheme_str() != Some("https") {
        bail!("--url must be https://host:port/path");
    }
    let host = uri.host().context("--url has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(443);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .context("no address")?;
    let target = Arc::new(Target {
        addr,
        sni: args.sni.clone().unwrap_or_else(|| bare.to_string()),
        uri,
        client: client_config(args.insecure, args.cacert.as_deref(), args.pq)?,
        timeout: args.timeout,
    });

    println!(
        "Running {} test @ {}\n  {} threads, {} connections x {} streams = {} concurrent requests{}",
        fmt_dur(args.duration),
        args.url,
        threads,
        conns,
        streams,
        conns * streams,
        if args.warmup.is_zero() {
            String::new()
        } else {
            format!(", {} warm-up", fmt_dur(args.warmup))
        }
    );

    let barrier = Arc::new(Barrier::new(threads));
    let t0: Arc<OnceLock<Timeline>> = Arc::new(OnceLock::new());
    let (warmup, duration) = (args.warmup, args.duration);
    let mut handles = Vec::new();
    for t in 0..threads {
        let n = conns / threads + usize::from(t < conns % threads);
        let (target, barrier, t0) = (target.clone(), barrier.clone(), t0.clone());
        handles.push(std::thread::spawn(move || -> anyhow::Result<Tally> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(thread_main(
                target, n, streams, barrier, t0, warmup, duration,
            ))
        }));
    }
    let mut total = Tally::new();
    for h in handles {
        total.merge(
            h.join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??,
        );
    }
    report(&args, conns, streams, duration, &total);
    Ok(())
}

async fn thread_main(
    target: Arc<Target>,
    conns: usize,
    streams: usize,
    barrier: Arc<Barrier>,
    t0: Arc<OnceLock<Timeline>>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Tally> {
    let bind: SocketAddr = if target.addr.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let mut endpoint = quinn::Endpoint::client(bind).context("UDP socket")?;
    endpoint.set_default_client_config(target.client.clone());
    // Connect everything before the clock starts (handshakes are not part of the figures).
    let pending: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(connect(endpoint.clone(), target.clone())))
        .collect();
    let mut first = Vec::new();
    for p in pending {
        first.push(p.await?);
    }
    // Blocks this thread's runtime for as long as the slowest thread's handshakes take.
    barrier.wait();
    let tl = *t0.get_or_init(|| {
        let from = Instant::now() + warmup;
        Timeline {
            from,
            end: from + duration,
        }
    });
    let tasks: Vec<_> = first
        .into_iter()
        .map(|c| {
            tokio::spawn(connection_loop(
                c,
                endpoint.clone(),
                target.clone(),
                streams,
                tl,
            ))
        })
        .collect();
    let mut tally = Tally::new();
    for t in tasks {
        tally.merge(t.await?);
    }
    // H3_NO_ERROR (0x100): a clean end of the run for the server's logs.
    endpoint.close(0x100u32.into(), b"done");
    let _ = tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await;
    Ok(tally)
}

type Conn = (tokio::task::JoinHandle<()>, Sender);

async fn connect(endpoint: quinn::Endpoint, target: Arc<Target>) -> Result<Conn, String> {
    let connecting = endpoint
        .connect(target.addr, &target.sni)
        .map_err(|e| e.to_string())?;
    let conn = tokio::time::timeout(target.timeout, connecting)
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(conn))
        .await
        .map_err(|e| e.to_string())?;
    let drive = tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    Ok((drive, sender))
}

/// Runs S request loops on a connection; when the connection dies before the end, a new
/// one replaces it (counted as `reconnect`, or `connect` when that fails).
async fn connection_loop(
    mut conn: Result<Conn, String>,
    endpoint: quinn::Endpoint,
    target: Arc<Target>,
    streams: usize,
    tl: Timeline,
) -> Tally {
    let mut tally = Tally::new();
    let mut logged = false;
    loop {
        match conn {
            Err(ref e) => {
                tally.error("connect");
                if !logged {
                    eprintln!("h3load: connect: {e}");
                    logged = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok((ref drive, ref sender)) => {
                let loops: Vec<_> = (0..streams)
                    .map(|_| tokio::spawn(request_loop(sender.clone(), target.clone(), tl)))
                    .collect();
                for l in loops {
                    if let Ok(t) = l.await {
                        tally.merge(t);
                    }
                }
                drive.abort();
            }
        }
        if Instant::now() >= tl.end {
            return tally;
        }
        if conn.is_ok() {
            tally.error("reconnect");
        }
        conn = connect(endpoint.clone(), target.clone()).await;
    }
}

enum Failure {
    /// The request failed; the connection may still be usable.
    Stream(&'static str),
    /// The connection is gone.
    Connection(&'static str),
    /// The per-request timeout expired.
    Timeout,
    /// The end of the run cut the request short (not an error).
    Cut,
}

fn classify(e: &h3::error::StreamError, what: &'static str) -> Failure {
    use h3::error::StreamError as E;
    match e {
        E::ConnectionError { .. } | E::RemoteClosing { .. } => Failure::Connection("connection"),
        _ => Failure::Stream(what),
    }
}

async fn request_loop(mut sender: Sender, target: Arc<Target>, tl: Timeline) -> Tally {
    let mut tally = Tally::new();
    loop {
        let start = Instant::now();
        if start >= tl.end {
            return tally;
        }
        let deadline = (start + target.timeout).min(tl.end);
        let res = one_request(&mut sender, &target.uri, tl, deadline, &mut tally).await;
        let done = Instant::now();
        let kind = match res {
            Ok(status) => {
                if start >= tl.from && done < tl.end {
                    tally.requests += 1;
                    let us = (done - start).as_micros().clamp(1, HIST_MAX_US as u128) as u64;
                    tally
                        .hist
                        .record(us)
                        .expect("clamped into the histogram's range");
                    *tally.status.entry(status).or_default() += 1;
                }
                continue;
            }
            Err(Failure::Cut) => return tally,
            Err(Failure::Timeout) => "timeout",
            Err(Failure::Stream(k)) => k,
            Err(Failure::Connection(k)) => {
                if tl.recording(done) {
                    tally.error(k);
                }
                return tally;
            }
        };
        if tl.recording(done) {
            tally.error(kind);
        }
    }
}

/// One GET; every step ends at `deadline` (the request's timeout or the end of the run).
async fn one_request(
    sender: &mut Sender,
    uri: &http::Uri,
    tl: Timeline,
    deadline: Instant,
    tally: &mut Tally,
) -> Result<u16, Failure> {
    let expired = || {
        if deadline >= tl.end {
            Failure::Cut
        } else {
            Failure::Timeout
        }
    };
    let at = tokio::time::Instant::from_std(deadline);
    let req = http::Request::get(uri.clone())
        .body(())
        .expect("a GET with a parsed URI");
    let mut stream = tokio::time::timeout_at(at, sender.send_request(req))
        .await
        .map_err(|_| expired())?
        .map_err(|e| classify(&e, "send"))?;
    let res = async {
        stream.finish().await.map_err(|e| classify(&e, "send"))?;
        let resp = stream
            .recv_response()
            .await
            .map_err(|e| classify(&e, "response"))?;
        while let Some(chunk) = stream.recv_data().await.map_err(|e| classify(&e, "body"))? {
            if tl.recording(Instant::now()) {
                tally.bytes += chunk.remaining() as u64;
            }
        }
        Ok(resp.status().as_u16())
    };
    // On expiry the stream is dropped: quinn stops it with code 0. (h3-quinn's stop_sending
    // would panic while a read is pending, which is exactly when a deadline hits.)
    tokio::time::timeout_at(at, res)
        .await
        .unwrap_or_else(|_| Err(expired()))
}
