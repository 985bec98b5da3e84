//! After `101 Switching Protocols` the connection is no longer HTTP: bytes are
//! copied both ways until both sides have finished, each direction closing its
//! write side when its reader ends (so half-closed protocols work). Each read
//! waits at most the upstream's `read_timeout`, as nginx's `proxy_read_timeout`.

use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

use super::downstream::Downstream;
use crate::ctx::ShardCtx;
use crate::upstream::UpConn;

/// The tunnel's timeouts: `idle` (the route's upstream `read_timeout`) and
/// the server's send timeout.
pub fn limits(ctx: &ShardCtx, idle: Duration) -> (Duration, Duration) {
    (idle, ctx.snapshot().snap.config.server.timeouts.send)
}

/// Bytes the client sent after its upgrade request: they belong to the new protocol.
pub fn pending<S>(down: &Downstream<S>) -> Vec<u8> {
    down.buf
        .get(down.pos..)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Copies between the client (already split into halves) and the upstream.
pub async fn tunnel<R, W>(
    mut dr: R,
    mut dw: W,
    pending: Vec<u8>,
    up: UpConn,
    (idle, send): (Duration, Duration),
) where
    R: AsyncReadRent,
    W: AsyncWriteRent,
{
    // Tunnelled connections never return to the pool: dropping `up` at the
    // end closes the socket and uncounts it.
    let (mut ur, mut uw) = up.stream.into_split();
    let a = async {
        if !pending.is_empty() {
            let (r, _) = uw.write_all(pending).await;
            if r.is_err() {
                return;
            }
        }
        copy(&mut dr, &mut uw, idle, send).await;
    };
    let b = copy(&mut ur, &mut dw, idle, send);
    monoio::join!(a, b);
}

async fn copy<R: AsyncReadRent, W: AsyncWriteRent>(
    r: &mut R,
    w: &mut W,
    idle: Duration,
    send: Duration,
) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (res, b) = match monoio::time::timeout(idle, r.read(buf)).await {
            Ok(x) => x,
            Err(_) => break,
        };
        buf = b;
        match res {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        match monoio::time::timeout(send, w.write_all(buf)).await {
            Ok((Ok(_), b)) => buf = b,
            _ => return,
        }
    }
    let _ = w.shutdown().await;
}
