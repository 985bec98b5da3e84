//! Waiting for the next request on a connection.
//!
//! Two phases. *Hot*: right after a response (or an accept) the connection
//! keeps its buffer and has a read in flight for a short window, so a client that
//! sends its next request at once (the common case under load) costs one read,
//! submitted together with the response write. *Cold*: after the window the read
//! is cancelled — with monoio's cancelable read, which hands back the buffer and
//! any bytes that raced the cancel, so nothing is lost — the buffer goes back to
//! the pool, and the connection waits for readiness holding no buffer at all, so
//! idle keep-alive connections cost no buffer memory.

use std::time::Duration;

use monoio::io::{CancelableAsyncReadRent, Canceller};

use super::Downstream;
use crate::shard::ShardCtx;

/// How long a connection stays hot after a response. Long enough to cover a
/// client's turnaround under load; short enough that idle connections give their
/// buffers back quickly.
pub const HOT_WINDOW: Duration = Duration::from_millis(20);

/// ECANCELED: the in-flight read was cancelled before any byte arrived.
const ECANCELED: i32 = 125;

pub enum Wait {
    /// Request bytes are in `down.buf`.
    Data,
    /// The client closed, the connection failed, it stayed idle past its
    /// timeout, or the shard is stopping.
    Close,
}

/// Reads until the next request's first bytes are in `down.buf` (which must be
/// empty) or the connection should close. `first` selects the header timeout
/// (for a connection's first request) instead of the keep-alive timeout.
pub async fn next_request(ctx: &ShardCtx, down: &mut Downstream, first: bool) -> Wait {
    loop {
        if ctx.stopping() {
            return Wait::Close;
        }
        if down.buf.capacity() == 0 {
            down.buf = ctx.buffers.take();
        }
        down.buf.clear();
        down.pos = 0;
        match hot_read(ctx, down).await {
            Hot::Data => return Wait::Data,
            Hot::Closed => return Wait::Close,
            Hot::Cold => {}
        }
        ctx.buffers.give(std::mem::take(&mut down.buf));
        if ctx.stopping() {
            return Wait::Close;
        }
        let t = &ctx.snapshot().snap.config.server.timeouts;
        let wait = if first { t.header_read } else { t.keepalive };
        let ready = monoio::select! {
            r = monoio::time::timeout(wait, down.stream.readable(false)) => matches!(r, Ok(Ok(()))),
            _ = ctx.shutdown.wait() => false,
        };
        if !ready {
            return Wait::Close;
        }
        // Readable: the next hot read completes at once.
    }
}

enum Hot {
    Data,
    Closed,
    Cold,
}

async fn hot_read(ctx: &ShardCtx, down: &mut Downstream) -> Hot {
    let canceller = down.canceller.get_or_insert_with(Canceller::new);
    let handle = canceller.handle();
    let buf = std::mem::take(&mut down.buf);
    let mut read = std::pin::pin!(down.stream.cancelable_read(buf, handle));
    let finished = monoio::select! {
        r = &mut read => Some(r),
        _ = monoio::time::sleep(HOT_WINDOW) => None,
        _ = ctx.shutdown.wait() => None,
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
