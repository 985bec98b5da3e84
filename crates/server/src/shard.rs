//! A shard: one thread, pinned to one core, running its own monoio runtime with
//! its own listeners, connection table, buffers and upstream pools.

pub mod accept;
pub mod listeners;

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_net::Driver;
use shardgate_net::{pin_current_thread, run_on_runtime, ActiveDriver};

use crate::ctx::{ShardCtx, Shared};
use crate::status::Phase;

/// What a shard thread reports once it is serving (or why it could not start).
pub type Ready = Result<ActiveDriver, String>;

pub struct ShardSpec {
    pub id: usize,
    pub core: Option<usize>,
    pub driver: Driver,
    /// The shard's sockets wait in `shared.handoff` (ADR 18).
    pub shared: Arc<Shared>,
}

/// How often a shard looks at the process-wide stop flag. Stopping is rare; a
/// timer per shard is cheaper than a cross-thread wake-up on the hot path.
const STOP_POLL: Duration = Duration::from_millis(25);
/// io_uring submission queue entries per shard.
const RING_ENTRIES: u32 = 4096;
/// Parked connections' idle deadlines are checked every 4 ticks (100 ms): the
/// keep-alive timeout is enforced to within that, never early.
const SWEEP_TICKS: u32 = 4;

pub fn run(spec: ShardSpec, ready: mpsc::Sender<Ready>) {
    let pinned = spec.core.filter(|&core| match pin_current_thread(core) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(shard = spec.id, core, error = %e, "could not pin shard thread");
            false
        }
    });
    let id = spec.id;
    let ready2 = ready.clone();
    let res = run_on_runtime(spec.driver, RING_ENTRIES, move |driver| async move {
        shard_main(spec, driver, pinned, ready2).await;
    });
    if let Err(e) = res {
        let _ = ready.send(Err(format!("shard {id}: {e}")));
    }
}

async fn shard_main(
    spec: ShardSpec,
    driver: ActiveDriver,
    pinned: Option<usize>,
    ready: mpsc::Sender<Ready>,
) {
    let ctx = match ShardCtx::new(spec.id, spec.shared.clone()) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {}: {e}", spec.id)));
            return;
        }
    };
    let status = spec.shared.status.get(spec.id);
    if let Some(s) = status {
        s.started(driver, pinned, ctx.table.capacity());
    }
    let lot = monoio::spawn(crate::conn::lot::lot(ctx.clone()));
    if let Err(e) = listeners::sync(&ctx) {
        let _ = ready.send(Err(format!("shard {}: {e}", spec.id)));
        return;
    }
    if let Some(s) = status {
        s.set_phase(Phase::Serving);
    }
    tracing::info!(shard = spec.id, %driver, "shard serving");
    let _ = ready.send(Ok(driver));
    drop(ready);
    // Sweep idle upstream connections and watch the stop flag.
    let mut ticks = 0u32;
    loop {
        monoio::time::sleep(STOP_POLL).await;
        if let Some(s) = status {
            s.publish(ctx.table.counts());
        }
        if ctx.shared.stopping.load(Ordering::Relaxed) {
            break;
        }
        ticks = ticks.wrapping_add(1);
        if ctx.retiring() && !ctx.accept_stop.is_set() {
            ctx.accept_stop.set();
            tracing::info!(
                shard = spec.id,
                "handed over: accept loops stop, connections finish"
            );
        }
        ctx.flush_access_log();
        // Errors are logged there; a reload's listener that did not start
        // leaves the others serving.
        let _ = listeners::sync(&ctx);
        if ticks.is_multiple_of(SWEEP_TICKS) {
            ctx.table.sweep(Instant::now(), false, |p| {
                crate::conn::park::expire(&ctx, p);
            });
            ctx.trim_buffers();
            ctx.publish_rate_limits();
        }
        if ticks.is_multiple_of(40) {
            ctx.evict_idle();
            ctx.publish_in_flight();
        }
    }
    // Graceful stop: listeners close (accept loops end), idle connections close,
    // busy ones finish their request (answering with `connection: close`).
    if let Some(s) = status {
        s.set_phase(Phase::Draining);
    }
    ctx.shutdown.set();
    let accepts = ctx.listeners.borrow_mut().drain_all();
    lot.await;
    ctx.table
        .sweep(Instant::now(), true, |p| crate::conn::park::expire(&ctx, p));
    for a in accepts {
        a.await;
    }
    let grace = ctx.snapshot().snap.config.server.timeouts.shutdown_grace;
    let busy = ctx.table.active();
    if busy > 0 {
        tracing::info!(shard = spec.id, busy, "draining connections");
    }
    // The counts keep moving for `/shards` while connections finish.
    let drained = async {
        loop {
            if let Some(s) = status {
                s.publish(ctx.table.counts());
            }
            if monoio::time::timeout(STOP_POLL, ctx.table.wait_empty())
                .await
                .is_ok()
            {
                break;
            }
        }
    };
    let timed_out = monoio::time::timeout(grace, drained).await.is_err();
    if let Some(s) = status {
        s.publish(ctx.table.counts());
        s.set_phase(Phase::Stopped);
    }
    if timed_out {
        tracing::warn!(
            shard = spec.id,
            left = ctx.table.active(),
            "grace period over, closing"
        );
    }
    ctx.flush_access_log();
}
