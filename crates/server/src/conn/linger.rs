//! Lingering close (nginx's `lingering_close on`).
//!
//! A socket closed while bytes it never read wait in its receive queue (or
//! arrive after) makes the kernel answer with a reset, and a reset throws
//! away whatever of the responses is still queued to send: a client that
//! pipelined a request behind one with a large response, or that is still
//! uploading a body the gateway refused, lost the end of the earlier
//! response and the error answer. So a connection that ends while its client
//! may still be sending first sends its FIN (TLS: `close_notify`, then the
//! FIN), then reads and drops what comes until the client closes, a gap of
//! `lingering_timeout` passes, or `lingering_time` is spent, and only then
//! closes. Both limits bound what one client can hold.

use std::time::Instant;

use super::downstream::Downstream;
use super::io::{read_more, Io};
use crate::ctx::ShardCtx;

/// Whether the connection may still receive bytes it will never read: the
/// request that ended it left some unread (see `Downstream::unread`), or
/// requests were pipelined behind it.
pub fn needed<S: Io>(down: &Downstream<S>) -> bool {
    down.unread || down.buffered()
}

/// Sends the FIN, then reads and drops until the client closes or a limit
/// passes. The caller closes the socket afterwards.
pub async fn linger<S: Io>(ctx: &ShardCtx, down: &mut Downstream<S>) {
    let t = ctx.snapshot().snap.config.server.timeouts.clone();
    let shut = monoio::time::timeout(t.send, down.stream.shutdown()).await;
    if !matches!(shut, Ok(Ok(()))) {
        return;
    }
    // The connection's own buffer, when a cancelled read did not keep it.
    let mut buf = std::mem::take(&mut down.buf);
    if buf.capacity() == 0 {
        buf = ctx.buffers.take();
    }
    let deadline = Instant::now() + t.lingering_time;
    loop {
        buf.clear();
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match read_more(&mut down.stream, &mut buf, left.min(t.lingering_timeout)).await {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    down.buf = buf;
    down.pos = 0;
}
