//! The request task of a plain-TCP connection: wait (without a buffer) for a
//! request, serve it, repeat while keep-alive allows; park the connection when
//! it goes cold, end it when it closes.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use monoio::io::Splitable;
use monoio::net::TcpStream;

use super::downstream::{Downstream, Next};
use super::serve::serve_one;
use super::state::{closed, idle_limit, parked, Conn};
use super::{linger, park, tunnel, wait};
use crate::conn_table::{Slot, SlotState};
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::listeners::ListenerId;

/// A new connection from the accept loop.
pub async fn serve(
    ctx: Rc<ShardCtx>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: ListenerId,
    drain: LocalEvent,
    slot: Slot,
) {
    ctx.metrics.active.increment(1.0);
    let conn = Conn {
        down: Downstream::new(stream, peer, None, drain),
        listener,
        slot,
        accepted: Instant::now(),
        first: true,
    };
    run(ctx, conn).await
}

/// Serves requests while they come. Pipelined requests are answered in
/// order: bytes after one request stay in the buffer and are parsed next.
pub(crate) async fn run(ctx: Rc<ShardCtx>, mut c: Conn) {
    loop {
        if !c.down.buffered() {
            c.slot.set_state(SlotState::Idle);
            let window = if c.first {
                super::window::FIRST_HOT_WINDOW
            } else {
                c.down.window
            };
            match wait::hot(&ctx, &mut c.down, window).await {
                wait::Hot::Data => {}
                wait::Hot::Closed => break,
                wait::Hot::Cold => {
                    // This task's state (the whole request path) is large; a
                    // parked connection is a table slot and an epoll entry.
                    if c.down.draining(&ctx) {
                        break;
                    }
                    let idle = idle_limit(&ctx, c.first);
                    match park::park(&ctx, c, Instant::now() + idle) {
                        None => {
                            parked(&ctx);
                            return;
                        }
                        // Not parked: wait here, with a small buffer, as TLS
                        // connections do.
                        Some(back) => c = back,
                    }
                    if !wait::until(&ctx, &mut c.down, idle).await {
                        break;
                    }
                }
            }
            c.slot.set_state(SlotState::Busy);
        }
        c.first = false;
        if c.down.buf.capacity() == 0 {
            c.down.buf = ctx.buffers.take();
        }
        match serve_one(&ctx, &mut c.down, c.listener).await {
            Next::KeepAlive if !c.down.draining(&ctx) => continue,
            Next::Tunnel(up, idle) => {
                let Conn {
                    down,
                    slot,
                    accepted,
                    ..
                } = c;
                let pending = tunnel::pending(&down);
                let limits = tunnel::limits(&ctx, idle);
                let (dr, dw) = down.stream.into_split();
                tunnel::tunnel(dr, dw, pending, up, limits).await;
                closed(&ctx, slot, accepted);
                return;
            }
            _ => break,
        }
    }
    if linger::needed(&c.down) {
        linger::linger(&ctx, &mut c.down).await;
    }
    ctx.give_buffer(std::mem::take(&mut c.down.buf));
    closed(&ctx, c.slot, c.accepted);
}
