//! The request loop of a TLS connection: like cleartext's (`conn::run`), a
//! hot window after each response, then the connection is parked — its
//! socket in the shard's parking lot, its rustls session in its table slot —
//! so an idle TLS connection holds no task and no buffer (ADR 20).

use std::rc::Rc;
use std::time::Instant;

use monoio::io::{AsyncWriteRent, Splitable};

use super::guarded::Guarded;
use super::stream::TlsStream;
use crate::conn::downstream::{Downstream, Next};
use crate::conn::linger;
use crate::conn::park::watch;
use crate::conn::serve::serve_one;
use crate::conn::state::{closed, idle_limit, parked};
use crate::conn::tunnel;
use crate::conn::wait::{self, Hot};
use crate::conn_table::{Parked, ParkedTls, Slot, SlotState};
use crate::ctx::ShardCtx;
use crate::listeners::ListenerId;

pub type Tls = Guarded<TlsStream>;

/// What a TLS connection keeps between its tasks.
pub struct TlsConn {
    pub down: Downstream<Tls>,
    pub listener: ListenerId,
    pub slot: Slot,
    pub accepted: Instant,
    /// No request served yet: the header timeout applies to the first wait.
    pub first: bool,
}

pub(crate) async fn run(ctx: Rc<ShardCtx>, mut c: TlsConn) {
    loop {
        if !c.down.buffered() {
            c.slot.set_state(SlotState::Idle);
            match hot(&ctx, &mut c).await {
                Hot::Data => {}
                Hot::Closed => break,
                Hot::Cold => {
                    if c.down.draining(&ctx) {
                        break;
                    }
                    let idle = idle_limit(&ctx, c.first);
                    match park(&ctx, c, Instant::now() + idle) {
                        None => {
                            parked(&ctx);
                            return;
                        }
                        Some(back) => c = back,
                    }
                    // Not parked (no descriptor for the duplicate): wait here.
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
                let TlsConn {
                    down,
                    slot,
                    accepted,
                    ..
                } = c;
                tunnel_tls(&ctx, down, up, idle).await;
                closed(&ctx, slot, accepted);
                return;
            }
            _ => break,
        }
    }
    // A clean close sends `close_notify`, which tells a client reading a
    // close-delimited body that it has all of it (RFC 8446 §6.1); a
    // lingering close sends it first.
    if linger::needed(&c.down) {
        linger::linger(&ctx, &mut c.down).await;
    } else {
        let send = ctx.snapshot().snap.config.server.timeouts.send;
        let _ = monoio::time::timeout(send, c.down.stream.shutdown()).await;
    }
    ctx.give_buffer(std::mem::take(&mut c.down.buf));
    closed(&ctx, c.slot, c.accepted);
}

/// The hot window on the TLS stream (see `TlsStream::hot`).
async fn hot(ctx: &ShardCtx, c: &mut TlsConn) -> Hot {
    if c.down.draining(ctx) {
        return Hot::Closed;
    }
    ctx.give_buffer(std::mem::take(&mut c.down.buf));
    c.down.pos = 0;
    let window = if c.first {
        crate::conn::window::FIRST_HOT_WINDOW
    } else {
        c.down.window
    };
    let Downstream {
        stream,
        canceller,
        drain,
        ..
    } = &mut c.down;
    match stream.get_mut() {
        Some(s) => s.hot(window, drain, canceller).await,
        None => Hot::Closed,
    }
}

/// Parks `c` until it is readable or `deadline` passes; hands it back when it
/// cannot be parked (bytes wait in its stream, or no descriptor is left).
fn park(ctx: &Rc<ShardCtx>, mut c: TlsConn, deadline: Instant) -> Option<TlsConn> {
    let quiet = c.down.stream.get_mut().is_some_and(|s| s.is_quiet());
    if !quiet {
        return Some(c);
    }
    let fd = {
        let s = c.down.stream.get_mut()?;
        watch(ctx, s.as_tcp(), c.slot.index())
    };
    let Some(fd) = fd else {
        return Some(c);
    };
    let TlsConn {
        down,
        listener,
        slot,
        accepted,
        first,
    } = c;
    let idle_from_ms = Parked::idle_from_ms(accepted, down.idle_from);
    let Downstream {
        stream, peer, tls, ..
    } = down;
    let (Some(stream), Some(info)) = (stream.into_inner(), tls) else {
        // Unreachable in practice (checked above); the connection ends.
        let _ = ctx.poller.borrow().unwatch(&fd);
        closed(ctx, slot, accepted);
        return None;
    };
    // Closes the runtime's descriptor; `fd` keeps the socket open.
    let (tcp, session) = stream.into_parts();
    drop(tcp);
    slot.park(Parked {
        fd,
        peer,
        listener: listener.0,
        first,
        accepted,
        deadline,
        tls: Some(Box::new(ParkedTls { session, info })),
        idle_from_ms,
    });
    None
}

/// After `101`: the session moves into monoio-rustls's stream, which can be
/// split into halves for the two directions of the tunnel.
async fn tunnel_tls(
    ctx: &ShardCtx,
    mut down: Downstream<Tls>,
    up: crate::upstream::UpConn,
    idle: std::time::Duration,
) {
    let mut pending = tunnel::pending(&down);
    ctx.give_buffer(std::mem::take(&mut down.buf));
    let Some(stream) = down.stream.into_inner() else {
        return;
    };
    let Ok(tls) = stream.into_tunnel(&mut pending) else {
        return;
    };
    let mark = Guarded::new(());
    let (r, w) = tls.into_split();
    let (r, w) = (mark.sibling(r), mark.sibling(w));
    tunnel::tunnel(r, w, pending, up, tunnel::limits(ctx, idle)).await;
}
