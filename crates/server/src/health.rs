//! The health thread (`shardgate-health`): active probes, once per process
//! per server, and the periodic sweep that reports ejections ending and panic
//! starting or ending.
//!
//! One thread with its own small monoio runtime (epoll: a handful of sockets
//! at a time do not need io_uring, and it works wherever the process runs),
//! one task per probed server. Not on the shards: a probe must not cost a
//! request's latency, and N shards probing would send N probes per interval.
//! Not blocking sockets on a plain thread either: a server whose probe waits
//! for its full timeout would hold up every other server's probe, or need a
//! thread each. Results go into the servers' shared atomics (see
//! `upstream::ServerShared`), where every shard reads them with relaxed loads.
//!
//! The thread follows config generations: on a new one, servers that
//! appear start probing at once, servers that are gone stop, and servers
//! that stay keep their state (in their shared record) and their task and
//! schedule; when their check settings changed, the task is replaced and the
//! new one probes at once with the new settings (an interval shortened from
//! an hour to a second must not wait out the hour).

mod probe;

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_config::HealthCheckConfig;
use shardgate_proxy::Rng;

use crate::ctx::Shared;
use crate::event::LocalEvent;
use crate::snapshot::Snapshot;
use crate::upstream::{millis, ServerShared};

/// How often the thread looks for a new generation, the stop flag, ended
/// ejections and panic changes: the lag of those reports (not of ejection
/// itself, which takes effect on the request path at once).
const TICK: Duration = Duration::from_millis(100);

/// Starts the thread; it ends soon after `shared.stopping` is set.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("shardgate-health".into())
        .spawn(move || run(&shared))
}

fn run(shared: &Arc<Shared>) {
    let runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build();
    match runtime {
        Ok(mut rt) => rt.block_on(main(shared.clone())),
        // Without the thread servers are neither probed nor reported back
        // from ejection (ejections still end on time on the request path).
        Err(e) => {
            tracing::error!(error = %e, "health thread runtime unusable: no active health checks")
        }
    }
}

/// One probed server, as the thread's tasks share it.
struct Probed {
    server: Arc<ServerShared>,
    check: HealthCheckConfig,
    /// Set when the server leaves the config (or the process stops).
    stop: LocalEvent,
}

async fn main(shared: Arc<Shared>) {
    let mut probed: Vec<Rc<Probed>> = Vec::new();
    let mut generation = 0;
    let mut rng = Rng::new(crate::ctx::os_seed(usize::MAX));
    while !shared.stopping.load(Ordering::Relaxed) {
        let snap = shared.snapshot.load_full();
        if snap.generation != generation {
            generation = snap.generation;
            follow(&snap, &mut probed, &mut rng);
        }
        let now = millis(Instant::now());
        for (u, cfg) in snap.health.upstreams.iter().zip(&snap.config.upstreams) {
            u.sweep(now, &cfg.outlier);
        }
        monoio::time::sleep(TICK).await;
    }
    for p in probed {
        p.stop.set();
    }
}

/// Brings the probe tasks in line with `snap`: kept servers with the same
/// check keep their task; new servers, and kept ones whose check changed,
/// get a new task; the rest are stopped.
fn follow(snap: &Snapshot, probed: &mut Vec<Rc<Probed>>, rng: &mut Rng) {
    let mut next = Vec::new();
    for (u, cfg) in snap.health.upstreams.iter().zip(&snap.config.upstreams) {
        let Some(check) = &cfg.health_check else {
            continue;
        };
        for server in &u.servers {
            let same = |p: &Rc<Probed>| Arc::ptr_eq(&p.server, server) && p.check == *check;
            match probed.iter().position(same) {
                Some(i) => next.push(probed.swap_remove(i)),
                None => {
                    let p = Rc::new(Probed {
                        server: server.clone(),
                        check: check.clone(),
                        stop: LocalEvent::new(),
                    });
                    monoio::spawn(probe_loop(p.clone(), Rng::new(rng.next_u64())));
                    next.push(p);
                }
            }
        }
    }
    for gone in probed.drain(..) {
        gone.stop.set();
    }
    *probed = next;
}

/// Probes one server at once, then every `interval ± jitter` (from the start
/// of one probe to the start of the next), until stopped.
async fn probe_loop(p: Rc<Probed>, mut rng: Rng) {
    let check = &p.check;
    loop {
        let started = Instant::now();
        let passed = probe::probe(p.server.addr, check).await;
        if p.stop.is_set() {
            return;
        }
        p.server.record_probe(passed, millis(Instant::now()), check);
        let wait = probe::jittered(check.interval, check.jitter, rng.next_f64())
            .saturating_sub(started.elapsed());
        monoio::select! {
            _ = monoio::time::sleep(wait) => {}
            _ = p.stop.wait() => return,
        }
    }
}
