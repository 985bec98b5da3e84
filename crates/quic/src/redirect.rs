//! Handing a datagram to the shard that owns its connection ID.
//!
//! With the steering program attached the kernel already delivers every
//! datagram to its owner, and nothing here runs. Without it (the program
//! could not be attached, `steering = "none"`, a client's packet of a
//! connection another shard owns after the kernel's hash moved it), the shard
//! that received the datagram copies it into the owner's inbox and nudges the
//! owner awake. The inbox is a bounded channel ([`INBOX_CAPACITY`]): when an
//! owner is this far behind, further datagrams are dropped and counted
//! (`shardgate_quic_redirect_dropped_total`) — QUIC recovers a lost datagram
//! like any other loss — instead of queueing without limit.
//!
//! The nudge is one byte on a Unix datagram socket pair whose reading end the
//! owner's endpoint watches next to its UDP socket: monoio's wakers may not be
//! woken from another thread (its `sync` feature is off), and a socket is a
//! wake-up every driver can wait for.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use quinn::udp::EcnCodepoint;

/// Datagrams waiting per shard for their owner (about 1.5 MB at 1500 bytes).
pub const INBOX_CAPACITY: usize = 1024;

/// One redirected datagram: a copy (the mis-steered path pays an allocation;
/// the steered path pays nothing).
pub(crate) struct Redirected {
    pub(crate) data: Vec<u8>,
    pub(crate) addr: SocketAddr,
    pub(crate) ecn: Option<EcnCodepoint>,
    pub(crate) dst_ip: Option<IpAddr>,
}

struct Door {
    tx: SyncSender<Redirected>,
    nudge: UnixDatagram,
}

/// The sending side of every shard's inbox, shared by all shards of one
/// listener.
pub struct RedirectHub {
    doors: Vec<Door>,
}

/// A shard's receiving side: moved to the shard's thread at start.
pub struct Inbox {
    pub(crate) rx: Receiver<Redirected>,
    pub(crate) wake: UnixDatagram,
}

/// What happened to a datagram handed to [`RedirectHub::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Queued,
    /// The owner's inbox is full (or the owner is gone): dropped.
    Dropped,
}

impl RedirectHub {
    /// A hub for `shards` shards and each shard's inbox, by shard index.
    pub fn new(shards: usize) -> io::Result<(Arc<RedirectHub>, Vec<Inbox>)> {
        let mut doors = Vec::with_capacity(shards);
        let mut inboxes = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = sync_channel(INBOX_CAPACITY);
            let (nudge, wake) = UnixDatagram::pair()?;
            nudge.set_nonblocking(true)?;
            wake.set_nonblocking(true)?;
            doors.push(Door { tx, nudge });
            inboxes.push(Inbox { rx, wake });
        }
        Ok((Arc::new(RedirectHub { doors }), inboxes))
    }

    pub(crate) fn send(&self, owner: usize, d: Redirected) -> Sent {
        let Some(door) = self.doors.get(owner) else {
            return Sent::Dropped;
        };
        match door.tx.try_send(d) {
            Ok(()) => {
                // A full nudge socket means the owner has wake-ups pending
                // already; nothing is lost by skipping this one.
                let _ = door.nudge.send(&[1]);
                Sent::Queued
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Sent::Dropped,
        }
    }
}

impl RedirectHub {
    /// Wakes every shard's endpoint, so each looks at its read gate again
    /// (a binary upgrade opened or closed it, see `Steer::gate`).
    pub fn nudge_all(&self) {
        for door in &self.doors {
            let _ = door.nudge.send(&[1]);
        }
    }
}

impl Inbox {
    /// Empties the nudge socket (the datagrams themselves are in `rx`).
    pub(crate) fn clear_nudges(&self) {
        let mut sink = [0u8; 64];
        while let Ok(n) = self.wake.recv(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dgram(tag: u8) -> Redirected {
        Redirected {
            data: vec![tag; 10],
            addr: "127.0.0.1:9".parse().expect("addr"),
            ecn: None,
            dst_ip: None,
        }
    }

    #[test]
    fn queued_datagrams_reach_their_owner_with_a_nudge() {
        let (hub, inboxes) = RedirectHub::new(2).expect("hub");
        assert_eq!(hub.send(1, dgram(7)), Sent::Queued);
        let inbox = &inboxes[1];
        let mut b = [0u8; 4];
        assert_eq!(inbox.wake.recv(&mut b).expect("nudged"), 1);
        assert_eq!(inbox.rx.try_recv().expect("queued").data, vec![7; 10]);
        assert!(inboxes[0].rx.try_recv().is_err(), "shard 0 got nothing");
        assert_eq!(hub.send(5, dgram(1)), Sent::Dropped, "no such shard");
    }

    #[test]
    fn a_full_inbox_drops_instead_of_growing() {
        let (hub, inboxes) = RedirectHub::new(1).expect("hub");
        for i in 0..INBOX_CAPACITY {
            assert_eq!(hub.send(0, dgram(i as u8)), Sent::Queued, "{i}");
        }
        assert_eq!(hub.send(0, dgram(0)), Sent::Dropped);
        inboxes[0].clear_nudges();
        let mut b = [0u8; 1];
        assert!(inboxes[0].wake.recv(&mut b).is_err(), "nudges cleared");
        assert_eq!(inboxes[0].rx.try_iter().count(), INBOX_CAPACITY);
    }
}
