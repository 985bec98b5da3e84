//! `[upstream.adaptive_concurrency]` on real sockets: an origin with four
//! workers whose service time the test raises from 1 ms to 50 ms under a
//! steady load far beyond what 50 ms allows. The limit shrinks within
//! seconds, the excess gets fast 503s, admitted requests stay near the
//! origin's latency (without the limit they would queue behind the four
//! workers), and the limit recovers when the origin does. Fast 503s from
//! the origin are no samples: the limit does not grow on them.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use shardgate_testkit::metrics::scrape_sum;
use shardgate_testkit::origin::handlers::response_bytes;
use shardgate_testkit::{
    each_driver, handler, handlers, wait_until, After, Client, Driver, Gateway, Handler, Origin,
};

/// An origin with `k` workers: a request waits for a free worker, then takes
/// the service time. Its latency grows with the requests it is given, as a
/// real server's does.
struct Workers {
    busy: Mutex<usize>,
    freed: Condvar,
    k: usize,
    service_us: AtomicU64,
    /// Requests inside the origin (waiting or served), and the most seen.
    inside: AtomicUsize,
    peak: AtomicUsize,
}

impl Workers {
    fn new(k: usize, service: Duration) -> Arc<Self> {
        Arc::new(Workers {
            busy: Mutex::new(0),
            freed: Condvar::new(),
            k,
            service_us: AtomicU64::new(service.as_micros() as u64),
            inside: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        })
    }

    fn set_service(&self, d: Duration) {
        self.service_us
            .store(d.as_micros() as u64, Ordering::SeqCst);
    }

    fn handler(self: &Arc<Self>) -> Handler {
        let w = self.clone();
        let ok = response_bytes(200, &[], b"ok");
        handler(move |_, r| {
            let n = w.inside.fetch_add(1, Ordering::SeqCst) + 1;
            w.peak.fetch_max(n, Ordering::SeqCst);
            {
                let mut busy = w.busy.lock().unwrap_or_else(|p| p.into_inner());
                while *busy >= w.k {
                    busy = w.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
                }
                *busy += 1;
            }
            thread::sleep(Duration::from_micros(w.service_us.load(Ordering::SeqCst)));
            *w.busy.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
            w.freed.notify_one();
            w.inside.fetch_sub(1, Ordering::SeqCst);
            r.write(&ok)?;
            Ok::<_, io::Error>(After::KeepAlive)
        })
    }
}

/// Completed requests: when, status (0: the connection failed), latency.
type Log = Arc<Mutex<Vec<(Instant, u16, Duration)>>>;

/// `clients` threads, each sending GET `path` on a keep-alive connection
/// (a new one after a close), pausing `think` after every answer.
struct Load {
    stop: Arc<AtomicBool>,
    log: Log,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, path: &'static str, clients: usize, think: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let log: Log = Arc::default();
        let threads = (0..clients)
            .map(|_| {
                let (stop, log) = (stop.clone(), log.clone());
                thread::spawn(move || {
                    let mut conn: Option<Client> = None;
                    while !stop.load(Ordering::SeqCst) {
                        let c = match conn.as_mut() {
                            Some(c) => c,
                            None => match Client::connect(addr) {
                                Ok(c) => conn.insert(c),
                                Err(_) => {
                                    thread::sleep(think);
                                    continue;
                                }
                            },
                        };
                        let t0 = Instant::now();
                        let (status, closes) = match c.get("x", path) {
                            Ok(r) => (r.status, r.closes()),
                            Err(_) => (0, true),
                        };
                        let now = Instant::now();
                        log.lock().unwrap().push((now, status, now - t0));
                        if closes {
                            conn = None;
                        }
                        thread::sleep(think);
                    }
                })
            })
            .collect();
        Load { stop, log, threads }
    }

    /// Status and latency of the requests that completed in `[from, to)`.
    fn between(&self, from: Instant, to: Instant) -> Vec<(u16, Duration)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| *t >= from && *t < to)
            .map(|(_, s, d)| (*s, *d))
            .collect()
    }

    fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

/// The tests here load the machine on purpose: one at a time, so that one's
/// load is not another's latency.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// One measured window of the slow phase.
#[derive(Debug, Clone, Copy)]
struct Window {
    ok_count: usize,
    ok_p50: Duration,
    p99: Duration,
    shed_p50: Duration,
    shed_p90: Duration,
    shed_p99: Duration,
}

/// The `q` quantile of `v` (sorted here).
fn quantile(mut v: Vec<Duration>, q: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn limit(admin: SocketAddr, upstream: &str) -> f64 {
    scrape_sum(
        admin,
        "shardgate_upstream_concurrency_limit",
        &[("upstream", upstream)],
    )
}

fn gateway(driver: Driver, upstreams: &[(&str, SocketAddr, &str)]) -> Gateway {
    let mut config = String::from(
        "[admin]\naddress = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"public\"\naddress = \"127.0.0.1:0\"\n",
    );
    for (name, addr, table) in upstreams {
        config.push_str(&format!(
            "\n[[route]]\nname = \"{name}\"\npath_prefix = \"/{name}\"\nproxy = \"{name}\"\n\n\
             [[upstream]]\nname = \"{name}\"\nservers = [\"{addr}\"]\n\
             [upstream.adaptive_concurrency]\n{table}\n"
        ));
    }
    Gateway::builder(&config)
        .driver(driver)
        .shards(1)
        .start()
        .unwrap()
}

fn the_limit_follows_the_origins_latency(driver: Driver) {
    let _serial = one_at_a_time();
    let workers = Workers::new(4, Duration::from_millis(1));
    let origin = Origin::start(workers.handler()).unwrap();
    let name = format!("gradient_{driver}");
    let path: &'static str = Box::leak(format!("/{name}").into_boxed_str());
    // No probe during the test: the baseline stays the 1 ms origin's.
    let table = "initial_limit = 10\nmax_limit = 100\nwindow = \"100ms\"\n\
                 window_samples = 5\nprobe_interval = \"1h\"";
    let gw = gateway(driver, &[(&name, origin.addr(), table)]);
    let admin = gw.admin().unwrap();
    // Sixteen clients, 20 ms apart: far beyond four workers at 50 ms, and
    // light enough for a 2-core machine (a shed request costs a connect).
    let load = Load::start(gw.addr("public"), path, 16, Duration::from_millis(20));

    thread::sleep(Duration::from_secs(3));
    // Published from the shard's 1 s tick (later on a busy machine).
    assert!(
        wait_until(Duration::from_secs(10), || limit(admin, &name) >= 4.0),
        "limit at 1 ms: {}",
        limit(admin, &name)
    );
    let before = limit(admin, &name);

    // 1 ms → 50 ms: four workers serve 80 requests/s, the clients ask for
    // far more. The limit shrinks within seconds.
    workers.set_service(Duration::from_millis(50));
    let slow_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || limit(admin, &name) <= 6.0),
        "the limit stayed at {} (was {before})",
        limit(admin, &name)
    );
    let shrunk_in = slow_at.elapsed();
    let shrunk = limit(admin, &name);
    thread::sleep(Duration::from_secs(1));
    workers.peak.store(0, Ordering::SeqCst);
    // Three 2 s windows; the latency bounds are checked on the calmest one
    // (lowest admitted p99): this machine is shared, and a window in which
    // it stalls the gateway for longer than the origin's latency says
    // nothing about the limiter. Without the limit every window would show
    // the origin's queue (≈ 200 ms).
    let mut windows = Vec::new();
    let mut shed_count = 0;
    for _ in 0..3 {
        let from = Instant::now();
        thread::sleep(Duration::from_secs(2));
        let during = load.between(from, Instant::now());
        let pick = |status: u16| -> Vec<Duration> {
            during
                .iter()
                .filter(|(s, _)| *s == status)
                .map(|(_, d)| *d)
                .collect()
        };
        let (ok, shed) = (pick(200), pick(503));
        assert_eq!(during.len(), ok.len() + shed.len(), "{during:?}");
        // Some get through (how many depends on how much CPU the machine
        // gives the origin's threads), and most are shed.
        assert!(ok.len() >= 5, "admitted: {}", ok.len());
        assert!(
            shed.len() > ok.len(),
            "shed {} admitted {}",
            shed.len(),
            ok.len()
        );
        shed_count += shed.len();
        windows.push(Window {
            ok_count: ok.len(),
            ok_p50: quantile(ok.clone(), 0.5),
            p99: quantile(ok, 0.99),
            shed_p50: quantile(shed.clone(), 0.5),
            shed_p90: quantile(shed.clone(), 0.9),
            shed_p99: quantile(shed, 0.99),
        });
    }
    windows.sort_by_key(|w| w.p99);
    let Window {
        ok_count,
        ok_p50,
        p99,
        shed_p50,
        shed_p90,
        shed_p99,
    } = windows[0];
    // Admitted requests stay near the origin's 50 ms: under 3 × 50 ms,
    // plus what the machine itself added in that window (the shed requests'
    // p99: the same path without the origin). The 503s do not wait for the
    // origin: their median is far below the admitted requests'.
    assert!(
        p99 < Duration::from_millis(150) + shed_p99,
        "admitted p99 {p99:?} (503 p99 {shed_p99:?}) in the calmest of {windows:?}"
    );
    assert!(
        shed_p50 < Duration::from_millis(25) && shed_p50 * 2 < ok_p50,
        "503 p50 {shed_p50:?}, admitted p50 {ok_p50:?}"
    );
    let peak = workers.peak.load(Ordering::SeqCst);
    assert!(peak <= 6, "the origin held {peak} at once");
    assert!(
        scrape_sum(
            admin,
            "shardgate_requests_shed_total",
            &[("route", &name), ("reason", "adaptive_concurrency")]
        ) >= shed_count as f64
    );

    // Back to 1 ms: the limit grows again (as far as the load uses it:
    // it does not grow past twice what is in flight) and the 503s stop.
    workers.set_service(Duration::from_millis(1));
    let fast_at = Instant::now();
    let refused_share = || {
        let now = Instant::now();
        let last = load.between(now - Duration::from_secs(1), now);
        let refused = last.iter().filter(|(s, _)| *s != 200).count();
        (refused as f64 / last.len().max(1) as f64, last.len())
    };
    assert!(
        wait_until(Duration::from_secs(30), || limit(admin, &name)
            >= shrunk + 2.0
            && refused_share().0 < 0.05),
        "the limit stayed at {} (shrunk to {shrunk}); refused share {:?}",
        limit(admin, &name),
        refused_share()
    );
    let recovered_in = fast_at.elapsed();
    let recovered = limit(admin, &name);
    load.finish();
    eprintln!(
        "{driver}: limit {before} at 1 ms; {shrunk} {shrunk_in:?} after the origin went to \
         50 ms (admitted {} p99 {p99:?}, shed {shed_count} p50 {shed_p50:?} p90 {shed_p90:?}, origin peak \
         {peak}); {recovered} and under 5 % refused {recovered_in:?} after it came back",
        ok_count
    );
}

fn fast_errors_from_the_origin_do_not_grow_the_limit(driver: Driver) {
    let _serial = one_at_a_time();
    let failing = Origin::start(handlers::fixed(503, &[], b"down")).unwrap();
    // 10 ms answers: the gateway's own scheduling noise on a loaded machine
    // is small against them.
    let workers = Workers::new(64, Duration::from_millis(10));
    let healthy = Origin::start(workers.handler()).unwrap();
    let bad = format!("fast503_{driver}");
    let good = format!("fast200_{driver}");
    // A wide tolerance: this test is about which answers are samples, not
    // about the gradient, and a busy machine adds its own latency noise.
    let table = "initial_limit = 4\nmax_limit = 100\nwindow = \"50ms\"\nwindow_samples = 5\n\
                 probe_interval = \"1h\"\ntolerance = 4.0";
    let gw = gateway(
        driver,
        &[
            (&bad, failing.addr(), table),
            (&good, healthy.addr(), table),
        ],
    );
    let admin = gw.admin().unwrap();
    let bad_path: &'static str = Box::leak(format!("/{bad}").into_boxed_str());
    let good_path: &'static str = Box::leak(format!("/{good}").into_boxed_str());
    let a = Load::start(gw.addr("public"), bad_path, 8, Duration::from_millis(1));
    let b = Load::start(gw.addr("public"), good_path, 8, Duration::from_millis(1));
    thread::sleep(Duration::from_secs(3));
    a.finish();
    b.finish();
    // The healthy upstream's limit grew under the same load (so the test
    // can tell); the failing one's never moved.
    assert!(
        wait_until(Duration::from_secs(10), || limit(admin, &good) > 6.0),
        "healthy limit {}",
        limit(admin, &good)
    );
    assert!(failing.requests() > 100, "{}", failing.requests());
    assert_eq!(limit(admin, &bad), 4.0);
    // Published from the 1 s tick: wait for the one after the load ended.
    assert!(
        wait_until(Duration::from_secs(10), || scrape_sum(
            admin,
            "shardgate_upstream_in_flight",
            &[("upstream", &bad)]
        ) == 0.0),
        "every slot was given back"
    );
    assert_eq!(limit(admin, &bad), 4.0);
}

each_driver!(
    the_limit_follows_the_origins_latency,
    fast_errors_from_the_origin_do_not_grow_the_limit
);
