//! Waiting for the next request on a connection.
//!
//! Two phases. *Hot*: right after a response (or an accept) the connection
//! keeps its buffer and has a read in flight for a short window, so a client that
//! sends its next request at once (the common case under load) costs one read,
//! submitted together with the response write. *Cold*: after the window the read
//! is cancelled — with monoio's cancelable read, which hands back the buffer and
//! any bytes that raced the cancel, so nothing is lost — the buffer goes back to
//! the pool, and the connection is *parked*: its request task ends and a small
//! task waits for readiness holding no buffer, so an idle keep-alive connection
//! costs neither a buffer nor the request task's state.

use std::time::Duration;

use monoio::io::{AsyncReadRent, CancelableAsyncReadRent, Canceller};

use super::downstream::Downstream;
use crate::ctx::ShardCtx;

/// ECANCELED: the in-flight read was cancelled before any byte arrived.
const ECANCELED: i32 = 125;

/// Reads the next request's first bytes into `down.buf` during the hot
/// window. `Cold` means the window passed with no byte: the buffer is back in
/// the pool and the caller parks the connection (see `conn::park`).
pub async fn hot(ctx: &ShardCtx, down: &mut Downstream, window: Duration) -> Hot {
    if down.draining(ctx) {
        return Hot::Closed;
    }
    // Wait with a small buffer, as nginx does with its 1 KiB header buffer:
    // it is what a hot-but-quiet connection pins, and most request heads fit.
    ctx.give_buffer(std::mem::take(&mut down.buf));
    down.buf = ctx.small_buffers.take();
    down.pos = 0;
    let hot = hot_read(down, window).await;
    let small = std::mem::take(&mut down.buf);
    if matches!(hot, Hot::Data) {
        // The request gets a full buffer; copying a head of a few hundred bytes
        // is cheaper than pinning a full buffer on every quiet connection.
        down.buf = ctx.buffers.take();
        down.buf.extend_from_slice(&small);
    }
    ctx.give_buffer(small);
    hot
}

pub enum Hot {
    Data,
    Closed,
    Cold,
}

async fn hot_read(down: &mut Downstream, window: Duration) -> Hot {
    let canceller = down.canceller.get_or_insert_with(Canceller::new);
    let handle = canceller.handle();
    let buf = std::mem::take(&mut down.buf);
    let mut read = std::pin::pin!(down.stream.cancelable_read(buf, handle));
    let finished = monoio::select! {
        r = &mut read => Some(r),
        _ = monoio::time::sleep(window) => None,
        _ = down.drain.wait() => None,
    };
    let (res, buf) = match finished {
        Some(r) => r,
        None => {
            if let Some(c) = down.canceller.take() {
                down.canceller = Some(c.cancel());
            }
            read.await
        }
    };
    down.buf = buf;
    match res {
        Ok(0) => Hot::Closed,
        Ok(_) => Hot::Data,
        Err(e) if e.raw_os_error() == Some(ECANCELED) => Hot::Cold,
        Err(_) => Hot::Closed,
    }
}

/// Waits up to `idle` for the next request's first bytes without the hot
/// window's cancelable read (TLS connections, and cleartext ones that could
/// not be parked), with a small buffer, and moves them into a full buffer.
/// False: the client closed, the wait timed out or the shard stops (the read
/// is then dropped: the caller closes the connection).
pub async fn until<S: AsyncReadRent>(
    ctx: &ShardCtx,
    down: &mut Downstream<S>,
    idle: Duration,
) -> bool {
    if down.draining(ctx) {
        return false;
    }
    ctx.give_buffer(std::mem::take(&mut down.buf));
    down.pos = 0;
    let small = ctx.small_buffers.take();
    let read = monoio::select! {
        r = down.stream.read(small) => Some(r),
        _ = monoio::time::sleep(idle) => None,
        _ = down.drain.wait() => None,
    };
    let Some((res, small)) = read else {
        return false;
    };
    let got = matches!(res, Ok(n) if n > 0);
    if got {
        down.buf = ctx.buffers.take();
        down.buf.extend_from_slice(&small);
    }
    ctx.give_buffer(small);
    got
}
