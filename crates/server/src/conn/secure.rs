//! A TLS connection: the handshake under `server.timeouts.tls_handshake`, then
//! the same request loop as cleartext over the decrypted stream.
//!
//! TLS connections are not parked: the rustls session (its keys and record
//! buffers) must live as long as the connection, so an idle TLS connection
//! keeps its task and waits with a plain read under the idle timeout. A clean
//! close sends `close_notify`, which tells a client reading a close-delimited
//! body that it has all of it (RFC 8446 §6.1).

pub mod guarded;
pub mod handshake;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use monoio::io::{AsyncWriteRent, Splitable};
use monoio::net::TcpStream;

use self::guarded::Guarded;
use self::handshake::handshake;
use super::downstream::{Downstream, Next};
use super::serve::serve_one;
use super::state::closed;
use super::tunnel;
use crate::conn_table::{Slot, SlotState};
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::listeners::ListenerId;

type Tls = Guarded<monoio_rustls::ServerTlsStream<TcpStream>>;

pub async fn serve_tls(
    ctx: Rc<ShardCtx>,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    listener: ListenerId,
    drain: LocalEvent,
    slot: Slot,
    config: Arc<rustls::ServerConfig>,
) {
    ctx.metrics.active.increment(1.0);
    let accepted = Instant::now();
    let limit = ctx.snapshot().snap.config.server.timeouts.tls_handshake;
    let done = monoio::select! {
        r = monoio::time::timeout(limit, handshake(stream, config)) => r.ok().and_then(Result::ok),
        _ = drain.wait() => None,
    };
    let Some((tls, info)) = done else {
        ctx.metrics.tls_handshake_failures.increment(1);
        closed(&ctx, slot, accepted);
        return;
    };
    ctx.metrics.tls_handshakes.increment(1);
    let down = Downstream {
        stream: Guarded::new(tls),
        peer,
        buf: Vec::new(),
        pos: 0,
        canceller: None,
        tls: Some(info),
        drain,
    };
    serve_requests(&ctx, down, listener, &slot).await;
    closed(&ctx, slot, accepted);
}

async fn serve_requests(
    ctx: &Rc<ShardCtx>,
    mut down: Downstream<Tls>,
    listener: ListenerId,
    slot: &Slot,
) {
    let mut first = true;
    loop {
        if !down.buffered() {
            slot.set_state(SlotState::Idle);
            let t = &ctx.snapshot().snap.config.server.timeouts;
            let idle = if first { t.header_read } else { t.keepalive };
            if !super::wait::until(ctx, &mut down, idle).await {
                break;
            }
            slot.set_state(SlotState::Busy);
        }
        first = false;
        match serve_one(ctx, &mut down, listener).await {
            Next::KeepAlive if !down.draining(ctx) => continue,
            Next::Tunnel(up, idle) => {
                let pending = tunnel::pending(&down);
                ctx.give_buffer(std::mem::take(&mut down.buf));
                let Some(tls) = down.stream.into_inner() else {
                    return;
                };
                let mark = Guarded::new(());
                let (r, w) = tls.into_split();
                let (r, w) = (mark.sibling(r), mark.sibling(w));
                tunnel::tunnel(r, w, pending, up, tunnel::limits(ctx, idle)).await;
                return;
            }
            _ => break,
        }
    }
    ctx.give_buffer(std::mem::take(&mut down.buf));
    let send = ctx.snapshot().snap.config.server.timeouts.send;
    let _ = monoio::time::timeout(send, down.stream.shutdown()).await;
}
