//! The QUIC side of one `h3` listener on one shard: new connections are
//! admitted into the shard's fixed-size connection table or refused at once
//! (never queued), after a stateless retry when `retry` is on, while
//! `retry_threshold` handshakes are under way, or when the listener limits
//! connections per client, and served on this shard's thread; on stop the
//! endpoint drains.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use shardgate_slots::Slots;

use super::connection::Admitted;
use super::live::Live;
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::listeners::ListenerId;

/// Longest wait for the endpoint's close frames to leave.
const CLOSE_FLUSH: std::time::Duration = std::time::Duration::from_millis(200);

/// How often a draining listener looks whether its connections are done.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Serves until `drain` fires (the shard stops, or a reload removed the
/// listener), then keeps the endpoint and its socket open while the
/// connections drain (GOAWAY, in-flight streams finish) up to the grace
/// period, and closes it.
pub async fn serve(
    ctx: Rc<ShardCtx>,
    listener: ListenerId,
    drain: LocalEvent,
    endpoint: quinn::Endpoint,
    slots: Arc<Slots>,
) {
    let q = &ctx.metrics.quic;
    // Connections of this listener on this shard still in their handshake.
    let half_open = Live::default();
    loop {
        let incoming = monoio::select! {
            i = endpoint.accept() => i,
            _ = drain.wait() => break,
        };
        let Some(incoming) = incoming else { break };
        let snap = ctx.snapshot();
        let quic = snap
            .snap
            .listener_pos(listener)
            .and_then(|p| snap.snap.quic.get(p));
        let Some(Some(quic)) = quic else {
            incoming.refuse();
            continue;
        };
        let must_retry = quic.retry || half_open.at(quic.retry_threshold);
        if must_retry && !incoming.remote_address_validated() && incoming.may_retry() {
            // Stateless: no slot, no state until the client proves its address.
            if incoming.retry().is_ok() {
                q.retries.increment(1);
            }
            continue;
        }
        let limit = snap.snap.client_limit(listener);
        let client = if limit > 0 {
            if !incoming.remote_address_validated() {
                // Counted only once the client proved its address (a
                // stateless Retry, one round trip): Initials from a spoofed
                // address must not use up a real client's allowance.
                if incoming.may_retry() && incoming.retry().is_ok() {
                    q.retries.increment(1);
                }
                continue;
            }
            match ctx
                .shared
                .clients
                .acquire(listener, incoming.remote_address(), limit)
            {
                Some(charge) => Some(charge),
                None => {
                    ctx.metrics.client_limit.increment(1);
                    incoming.refuse();
                    continue;
                }
            }
        } else {
            None
        };
        let Some(slot) = slots.claim_guard() else {
            // CONNECTION_REFUSED now, rather than a queue the client would
            // wait in.
            q.refused.increment(1);
            incoming.refuse();
            continue;
        };
        let Some(config) = quic.pick(&mut ctx.rng.borrow_mut()) else {
            incoming.refuse();
            continue;
        };
        let admitted = Admitted {
            config,
            early_data: quic.early_data,
            slot,
            handshaking: half_open.enter(),
            client,
        };
        drop(snap);
        monoio::spawn(super::connection::serve(
            ctx.clone(),
            listener,
            drain.clone(),
            incoming,
            admitted,
        ));
    }
    // Connections drain themselves (they watch the same shutdown event);
    // the endpoint stays open until they are done or the grace period ends,
    // and refuses new connections meanwhile (CONNECTION_REFUSED, at once).
    let grace = ctx.snapshot().snap.config.server.timeouts.shutdown_grace;
    let until = Instant::now() + grace;
    while Instant::now() < until {
        let c = slots.counts();
        if c.busy + c.draining == 0 {
            break;
        }
        monoio::select! {
            i = endpoint.accept() => match i {
                Some(incoming) => {
                    q.refused.increment(1);
                    incoming.refuse();
                }
                None => break,
            },
            _ = monoio::time::sleep(DRAIN_POLL) => {},
        }
    }
    endpoint.close(quinn::VarInt::from_u32(0x100), b"");
    // Lets the CONNECTION_CLOSE frames go out before the shard exits (quinn
    // waits out the draining period; a short bound is enough to send them).
    let _ = monoio::time::timeout(CLOSE_FLUSH, endpoint.wait_idle()).await;
}
