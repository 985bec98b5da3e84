//! One QUIC connection on its shard: the handshake, the HTTP/3 session,
//! a task per request, and the graceful drain (GOAWAY, in-flight requests
//! finish up to the grace period, then the connection closes).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_slots::Slot;

use crate::ctx::ShardCtx;

/// RFC 9114 §8.1 error codes for the connection close.
const H3_NO_ERROR: u32 = 0x100;
const H3_INTERNAL_ERROR: u32 = 0x102;

/// How often a draining connection looks whether its requests are done.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Requests in flight on one connection; decremented by each request task.
struct InFlight(Rc<Cell<usize>>);

impl InFlight {
    fn enter(count: &Rc<Cell<usize>>) -> InFlight {
        count.set(count.get() + 1);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

pub async fn serve(
    ctx: Rc<ShardCtx>,
    listener: usize,
    incoming: quinn::Incoming,
    config: Arc<quinn::ServerConfig>,
    slot: Slot,
) {
    let client = incoming.remote_address();
    let snap = ctx.snapshot();
    let scfg = &snap.snap.config.server;
    let handshake = scfg.timeouts.tls_handshake;
    let max_field_section = scfg.buffer_size as u64;
    let grace = scfg.timeouts.shutdown_grace;
    drop(snap);
    let q = &ctx.metrics.quic;
    let connecting = match incoming.accept_with(config) {
        Ok(c) => c,
        Err(_) => {
            q.handshake_failures.increment(1);
            return;
        }
    };
    let conn = match monoio::time::timeout(handshake, connecting).await {
        Ok(Ok(c)) => c,
        _ => {
            q.handshake_failures.increment(1);
            return;
        }
    };
    q.handshakes.increment(1);
    let h3 = h3::server::builder()
        .max_field_section_size(max_field_section)
        .build::<_, Bytes>(h3_quinn::Connection::new(conn.clone()))
        .await;
    let mut h3 = match h3 {
        Ok(h) => h,
        Err(_) => {
            conn.close(quinn::VarInt::from_u32(H3_INTERNAL_ERROR), b"");
            return;
        }
    };
    let inflight = Rc::new(Cell::new(0usize));
    let mut drain_until: Option<Instant> = None;
    loop {
        if let Some(until) = drain_until {
            if inflight.get() == 0 || Instant::now() >= until {
                break;
            }
        }
        let draining = drain_until.is_some();
        monoio::select! {
            r = h3.accept() => match r {
                Ok(Some(resolver)) => {
                    q.streams.increment(1);
                    let guard = InFlight::enter(&inflight);
                    monoio::spawn({
                        let ctx = ctx.clone();
                        async move {
                            super::request::serve(ctx, listener, client, resolver).await;
                            drop(guard);
                        }
                    });
                }
                // The client closed, went idle past max_idle_time, or said
                // GOAWAY and its requests are done.
                Ok(None) | Err(_) => break,
            },
            _ = ctx.shutdown.wait(), if !draining => {
                // RFC 9114 §5.2: GOAWAY with the first stream id not
                // accepted; requests already accepted finish.
                let _ = slot.drain();
                let _ = h3.shutdown(0).await;
                drain_until = Some(Instant::now() + grace);
            },
            _ = monoio::time::sleep(DRAIN_POLL), if draining => {},
        }
    }
    // Requests still running after the grace period are cut here.
    conn.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"");
    let stats = conn.stats();
    q.bytes_received.increment(stats.udp_rx.bytes);
    q.bytes_sent.increment(stats.udp_tx.bytes);
    drop(slot);
}
