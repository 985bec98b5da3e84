//! A TLS connection: the handshake under `server.timeouts.tls_handshake`, then
//! the same request loop as cleartext over the decrypted stream, parked when
//! idle like a cleartext connection (ADR 20).

pub mod guarded;
pub mod handshake;
pub mod run;
pub mod stream;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use monoio::net::TcpStream;

use self::guarded::Guarded;
use self::handshake::handshake;
use self::run::{run, TlsConn};
use self::stream::TlsStream;
use super::downstream::Downstream;
use super::state::closed;
use crate::conn_table::Slot;
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::listeners::ListenerId;

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
    let Some((tcp, session, info)) = done else {
        ctx.metrics.tls_handshake_failures.increment(1);
        closed(&ctx, slot, accepted);
        return;
    };
    ctx.metrics.tls_handshakes.increment(1);
    let conn = TlsConn {
        down: Downstream::new(
            Guarded::new(TlsStream::new(tcp, session, ctx.tls_buffers.clone())),
            peer,
            Some(info),
            drain,
        ),
        listener,
        slot,
        accepted,
        first: true,
    };
    run(ctx, conn).await
}
