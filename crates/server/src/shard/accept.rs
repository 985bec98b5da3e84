//! The accept loop of one listener on one shard. A slot in the connection table
//! is taken *before* accepting: when the table is full the loop parks, the kernel
//! backlog fills, and clients feel the push-back instead of the shard growing.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use monoio::net::TcpListener;

use crate::conn;
use crate::conn_table::SlotState;
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::listeners::ListenerId;

/// Pause after accept fails for lack of file descriptors, so the loop does not spin.
const EMFILE_PAUSE: Duration = Duration::from_millis(50);

/// Accepts until `drain` fires (the listener was removed by a reload, or the
/// shard stops), then closes this shard's member of the group; or until
/// the process retires after a binary upgrade (`accept_stop`), then closes
/// only its descriptor.
pub async fn accept_loop(
    ctx: Rc<ShardCtx>,
    id: ListenerId,
    drain: LocalEvent,
    listener: TcpListener,
) {
    serve_accepts(&ctx, id, &drain, &listener).await;
    if ctx.retiring() {
        // The socket is the successor's now (ADR 19): shutdown(2) would stop
        // it listening there too. Only this descriptor closes.
        return;
    }
    // Stop listening now, not when the runtime gets round to closing the fd.
    if let Err(e) = shardgate_net::stop_listening(listener.as_raw_fd()) {
        tracing::debug!(shard = ctx.id, error = %e, "shutdown of listener failed");
    }
}

async fn serve_accepts(
    ctx: &Rc<ShardCtx>,
    id: ListenerId,
    drain: &LocalEvent,
    listener: &TcpListener,
) {
    loop {
        let slot = match ctx.table.try_acquire() {
            Some(s) => s,
            None => {
                // Counted when the loop parks, so the count is visible while the
                // table is full (which is when anyone looks).
                ctx.metrics.table_full.increment(1);
                if let Some(s) = ctx.stats() {
                    s.on_table_full();
                }
                monoio::select! {
                    s = ctx.table.acquire() => s,
                    _ = drain.wait() => break,
                    _ = ctx.accept_stop.wait() => break,
                }
            }
        };
        // Not a connection until accept returns one (`/shards` counts).
        slot.set_state(SlotState::Reserved);
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = drain.wait() => break,
            _ = ctx.accept_stop.wait() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let snap = ctx.snapshot();
                let limit = snap.snap.client_limit(id);
                if limit > 0 {
                    // The kernel completed the handshake: the address is
                    // the client's. Over its limit the connection is closed
                    // unread (the client sees a reset), like HAProxy's
                    // `tcp-request connection reject`: no slot, no TLS.
                    match ctx.shared.clients.acquire(id, peer, limit) {
                        Some(charge) => slot.hold(charge),
                        None => {
                            ctx.metrics.client_limit.increment(1);
                            continue;
                        }
                    }
                }
                slot.set_state(SlotState::Busy);
                ctx.metrics.accepted.increment(1);
                if let Some(s) = ctx.stats() {
                    s.on_accept();
                }
                // Per connection, so a reload that changes certificates applies
                // to the next handshake.
                let tls = snap.snap.tls_of(id);
                drop(snap);
                match tls {
                    Some(cfg) => monoio::spawn(conn::secure::serve_tls(
                        ctx.clone(),
                        stream,
                        peer,
                        id,
                        drain.clone(),
                        slot,
                        cfg,
                    )),
                    None => monoio::spawn(conn::run::serve(
                        ctx.clone(),
                        stream,
                        peer,
                        id,
                        drain.clone(),
                        slot,
                    )),
                };
            }
            Err(e) => {
                drop(slot);
                tracing::warn!(shard = ctx.id, listener = id.0, error = %e, "accept failed");
                // EMFILE / ENFILE
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    monoio::time::sleep(EMFILE_PAUSE).await;
                }
            }
        }
    }
}
