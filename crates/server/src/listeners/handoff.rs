//! Bound sockets on their way from the control thread to their shards.
//!
//! The publisher puts a new listener's sockets here *before* it publishes
//! the generation that names the listener; each shard's control tick takes
//! its own part once it sees the generation. This is the only place sockets
//! cross threads after start, and its lock is taken only by the control
//! thread and by a shard's tick whose listener set changed, never on the
//! request path. Bound: at most one entry per (listener, shard) of the
//! listeners in the running generation; a reload drops the entries of
//! listeners it no longer runs (closing their sockets).

use std::sync::{Mutex, MutexGuard};

use super::bind::ShardSockets;
use super::ListenerId;

struct Pending {
    id: ListenerId,
    shard: usize,
    sockets: ShardSockets,
}

#[derive(Default)]
pub struct Handoff {
    pending: Mutex<Vec<Pending>>,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Leaves listener `id`'s sockets for their shards (`per_shard[i]` for
    /// shard `i`).
    pub fn put(&self, id: ListenerId, per_shard: Vec<ShardSockets>) {
        let mut pending = self.lock();
        for (shard, sockets) in per_shard.into_iter().enumerate() {
            pending.push(Pending { id, shard, sockets });
        }
    }

    /// Shard `shard`'s part of listener `id`, once.
    pub fn take(&self, id: ListenerId, shard: usize) -> Option<ShardSockets> {
        let mut pending = self.lock();
        let at = pending
            .iter()
            .position(|p| p.id == id && p.shard == shard)?;
        Some(pending.swap_remove(at).sockets)
    }

    /// Closes the sockets no shard took of listeners not in `running`
    /// (added, then removed again before every shard saw them).
    pub fn retain(&self, running: &[ListenerId]) {
        self.lock().retain(|p| running.contains(&p.id));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp() -> ShardSockets {
        ShardSockets::Tcp(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    #[test]
    fn each_shard_takes_its_own_part_once_and_retain_closes_the_rest() {
        let h = Handoff::default();
        h.put(ListenerId(1), vec![tcp(), tcp()]);
        h.put(ListenerId(2), vec![tcp(), tcp()]);
        assert!(h.take(ListenerId(1), 1).is_some());
        assert!(h.take(ListenerId(1), 1).is_none(), "only once");
        assert!(h.take(ListenerId(3), 0).is_none());
        assert_eq!(h.len(), 3);
        h.retain(&[ListenerId(1)]);
        assert_eq!(h.len(), 1);
        assert!(h.take(ListenerId(2), 0).is_none());
        assert!(h.take(ListenerId(1), 0).is_some());
    }
}
