//! The retired process's forwarding thread (ADR 19): datagrams of its QUIC
//! connections arrive from the successor framed (`shardgate_quic::Frame`),
//! are checked, and go into the owner shard's inbox of the listener's
//! redirect hub, as a datagram mis-steered between shards would.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;

use metrics::counter;
use shardgate_quic::{decode_forwarded, RedirectHub, MAX_FRAME};

use crate::metrics::upgrade::FORWARD_DROPPED;

/// Runs until the successor's end closes (it exited) or the process ends;
/// `hubs` maps this process's listener ids to their hubs.
pub fn spawn(
    sock: UnixDatagram,
    hubs: Vec<(u32, Arc<RedirectHub>)>,
    shards: usize,
) -> std::io::Result<()> {
    sock.set_nonblocking(false)?;
    std::thread::Builder::new()
        .name("quic-feed".into())
        .spawn(move || {
            let dropped = counter!(FORWARD_DROPPED);
            let mut buf = vec![0u8; MAX_FRAME];
            // A closed peer reads as 0 bytes or an error: either ends the thread.
            while let Ok(n @ 1..) = sock.recv(&mut buf) {
                let frame = buf.get(..n).and_then(|f| decode_forwarded(f, shards));
                let hub = frame
                    .as_ref()
                    .and_then(|f| hubs.iter().find(|(id, _)| *id == f.listener))
                    .map(|(_, h)| h);
                let queued = match (frame, hub) {
                    (Some(f), Some(h)) => f.deliver(h),
                    _ => false,
                };
                if !queued {
                    dropped.increment(1);
                }
            }
        })?;
    Ok(())
}
