//! Starting and retiring this shard's listeners (ADR 18): at start and
//! after every reload the shard's control tick compares the generation's
//! listeners with those it serves, takes the sockets of new ones from the
//! hand-off and starts them on its own runtime, closes the parked
//! connections of removed ones, and forgets removed ones after their grace
//! period. Removed listeners start draining when the shard first reads the
//! generation without them (`ShardCtx::snapshot`).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use monoio::task::JoinHandle;

use super::accept;
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::listeners::bind::ShardSockets;
use crate::listeners::ListenerId;
use crate::quic::QuicSpec;

/// Brings the shard's listeners in line with its current generation.
/// Errors name the listener whose sockets could not be started (only the
/// start-up caller treats them as fatal).
pub fn sync(ctx: &Rc<ShardCtx>) -> Result<(), String> {
    let snap = ctx.snapshot();
    let mut result = Ok(());
    for &id in snap.snap.listener_ids() {
        if ctx.listeners.borrow().contains(id) {
            continue;
        }
        let drain = LocalEvent::new();
        // None: a socket already taken or dropped (cannot happen while the
        // generation names the listener); the entry stops further tries.
        let task = match ctx.shared.handoff.take(id, ctx.id) {
            Some(sockets) => match start(ctx, id, &drain, sockets) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(shard = ctx.id, listener = id.0, error = %e, "listener not started");
                    result = Err(format!("listener {}: {e}", id.0));
                    None
                }
            },
            None => None,
        };
        ctx.listeners.borrow_mut().add(id, drain, task);
    }
    drop(snap);
    let mut gone = Vec::new();
    ctx.listeners.borrow_mut().take_unswept(&mut gone);
    for id in gone {
        let closed = ctx.table.sweep_listener(id.0, |p| {
            crate::conn::park::expire(ctx, p);
        });
        tracing::info!(
            shard = ctx.id,
            listener = id.0,
            closed,
            "listener removed: draining"
        );
    }
    ctx.listeners.borrow_mut().expire(Instant::now());
    result
}

fn start(
    ctx: &Rc<ShardCtx>,
    id: ListenerId,
    drain: &LocalEvent,
    sockets: ShardSockets,
) -> Result<JoinHandle<()>, String> {
    Ok(match sockets {
        ShardSockets::Tcp(std_listener) => {
            let l = monoio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
            monoio::spawn(accept::accept_loop(ctx.clone(), id, drain.clone(), l))
        }
        ShardSockets::Quic(q) => {
            let shards = ctx.shared.stats.len();
            let (endpoint, slots) = quic_endpoint(ctx, q, shards)?;
            monoio::spawn(crate::h3::listener::serve(
                ctx.clone(),
                id,
                drain.clone(),
                endpoint,
                slots,
            ))
        }
    })
}

/// The shard's endpoint of one `h3` listener, on the shard's own thread.
fn quic_endpoint(
    ctx: &ShardCtx,
    q: QuicSpec,
    shards: usize,
) -> Result<(quinn::Endpoint, Arc<shardgate_slots::Slots>), String> {
    let snap = ctx.snapshot();
    let default = snap
        .snap
        .listener_pos(q.listener)
        .and_then(|pos| snap.snap.quic.get(pos))
        .and_then(|l| l.as_ref())
        .and_then(|l| l.default_config())
        .ok_or("h3 listener without QUIC settings")?;
    let steer = shardgate_quic::Steer {
        shard: ctx.id,
        shards,
        shard_offset: q.layout.shard_offset(),
        hub: q.hub,
        inbox: q.inbox,
        redirected: ctx.metrics.quic.redirected.clone(),
        dropped: ctx.metrics.quic.redirect_dropped.clone(),
        gate: ctx.shared.udp_gate.clone(),
        predecessor: q.predecessor,
    };
    let socket =
        shardgate_quic::ShardSocket::new(q.socket, Some(steer)).map_err(|e| e.to_string())?;
    let endpoint = shardgate_quic::shard_endpoint(socket, &q.layout, ctx.id, default)
        .map_err(|e| e.to_string())?;
    Ok((endpoint, q.slots))
}
