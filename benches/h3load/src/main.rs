//! `h3load`: a wrk-like HTTP/3 load generator for the benchmark harness.
//!
//! `--connections C` QUIC connections, each with `--streams S` request loops (S requests in
//! flight per connection), spread over `--threads T` OS threads; every thread runs its own
//! single-threaded tokio runtime and its own UDP socket (quinn `Endpoint`). Connections are
//! set up before the clock starts; then `--warmup` (not recorded) and `--duration`
//! (recorded). A request counts when its whole body arrived inside the recorded window;
//! body bytes count as they arrive inside it. Prints a wrk-like summary and a last line
//! `H3LOAD_JSON {...}` for the harness.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{Buf, Bytes};
use clap::Parser;
use hdrhistogram::Histogram;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Latencies are recorded in µs, up to 10 minutes, 3 significant digits.
const HIST_MAX_US: u64 = 600_000_000;

#[derive(Parser, Debug)]
#[command(name = "h3load", version, about = "wrk-like HTTP/3 load generator")]
struct Args {
    /// QUIC connections in total (default 10; 1 with --download).
    #[arg(short = 'c', long)]
    connections: Option<usize>,
    /// Concurrent requests (streams) per connection (default 1).
    #[arg(short = 's', long)]
    streams: Option<usize>,
    /// Recorded duration: 10s, 500ms, 1m or plain seconds.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unrecorded load before the recorded duration.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    warmup: Duration,
    /// OS threads (each its own runtime and UDP socket); connections are dealt round-robin.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// https://host:port/path
    #[arg(long)]
    url: String,
    /// Accept any server certificate.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// TLS server name (default: the URL's host).
    #[arg(long)]
    sni: Option<String>,
    /// PEM file of trusted certificates (when not --insecure).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Bulk download: defaults to 1 connection x 1 stream; the summary leads with MB/s.
    #[arg(long)]
    download: bool,
    /// Offer only the post-quantum hybrid key exchange X25519MLKEM768: its key share makes
    /// the ClientHello span two Initial datagrams (what steering must keep on one shard).
    #[arg(long)]
    pq: bool,
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

fn client_config(
    insecure: bool,
    cacert: Option<&std::path::Path>,
    pq: bool,
) -> anyhow::Result<quinn::ClientConfig> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if pq {
        provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519MLKEM768];
    }
    let provider = Arc::new(provider);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut tls = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth()
    } else {
        let path = cacert.context("give --cacert FILE or --insecure")?;
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: CertificateDer<'static> = cert.context("--cacert")?;
            roots.add(cert)?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    // Receive windows well above quinn's defaults (1.25 MB per stream, sized for 100 ms
    // at 100 Mbit/s): a busy client core must not be what limits a loopback download.
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(quinn::VarInt::from_u32(16 << 20))
        .receive_window(quinn::VarInt::from_u32(64 << 20));
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// `--insecure`: any certificate; handshake signatures are still checked.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn fmt_dur(d: Duration) -> String {
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

fn report(args: &Args, conns: usize, streams: usize, duration: Duration, t: &Tally) {
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
