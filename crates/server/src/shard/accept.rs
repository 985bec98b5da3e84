//! The accept loop of one listener on one shard. A slot in the connection table
//! is taken *before* accepting: when the table is full the loop parks, the kernel
//! backlog fills, and clients feel the push-back instead of the shard growing.

use std::rc::Rc;
use std::time::Duration;

use monoio::net::TcpListener;

use super::ShardCtx;
use crate::conn;

/// Pause after accept fails for lack of file descriptors, so the loop does not spin.
const EMFILE_PAUSE: Duration = Duration::from_millis(50);

pub async fn accept_loop(ctx: Rc<ShardCtx>, listener_idx: usize, listener: TcpListener) {
    loop {
        let full_before = ctx.table.full_events();
        let slot = monoio::select! {
            s = ctx.table.acquire() => s,
            _ = ctx.shutdown.wait() => break,
        };
        if ctx.table.full_events() != full_before {
            ctx.metrics.table_full.increment(1);
            if let Some(s) = ctx.stats() {
                s.on_table_full();
            }
        }
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = ctx.shutdown.wait() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                ctx.metrics.accepted.increment(1);
                if let Some(s) = ctx.stats() {
                    s.on_accept();
                }
                monoio::spawn(conn::serve(ctx.clone(), stream, peer, listener_idx, slot));
            }
            Err(e) => {
                drop(slot);
                tracing::warn!(shard = ctx.id, listener = listener_idx, error = %e, "accept failed");
                // EMFILE / ENFILE
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    monoio::time::sleep(EMFILE_PAUSE).await;
                }
            }
        }
    }
}
