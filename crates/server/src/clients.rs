//! Connections each client holds on a listener, for
//! `[[listener]] max_connections_per_client`: one table for the process,
//! shared by every shard, because a client's connections land on different
//! shards (the `SO_REUSEPORT` group spreads them by the 4-tuple).
//!
//! A charge is taken when a connection is admitted and given back when it
//! ends (its [`ClientCharge`] drops). Both are one atomic read-modify-write
//! of the client's entry (papaya's `compute`, a CAS loop, no lock), so the
//! limit is exact across shards. This runs once per connection, never per
//! request, and only on listeners with a limit. The table holds one entry
//! per client with a connection open, so its size is bounded by the shards'
//! connection tables; an entry is removed when its count reaches zero.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use papaya::{Compute, Operation};

use crate::listeners::ListenerId;

/// Who a limit counts on one listener: an IPv4 address, or the /64 an IPv6
/// address is in (a host or a site is usually given a whole /64, so counting
/// single IPv6 addresses would limit nothing). An IPv4-mapped IPv6 address
/// counts as its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    listener: u32,
    v6: bool,
    /// The IPv4 address, or the IPv6 address's first 64 bits.
    prefix: u64,
}

impl ClientKey {
    fn of(listener: ListenerId, peer: SocketAddr) -> Self {
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let (v6, prefix) = match ip {
            IpAddr::V4(v4) => (false, u64::from(u32::from(v4))),
            IpAddr::V6(v6) => (true, (u128::from(v6) >> 64) as u64),
        };
        ClientKey {
            listener: listener.0,
            v6,
            prefix,
        }
    }
}

/// Open connections per client and listener, process-wide.
#[derive(Default)]
pub struct ClientConns {
    counts: papaya::HashMap<ClientKey, u32>,
}

impl ClientConns {
    /// Takes one of `limit` connections for `peer` on `listener`; None when
    /// the client already holds `limit` (or more, after a reload lowered it).
    pub fn acquire(
        self: &Arc<Self>,
        listener: ListenerId,
        peer: SocketAddr,
        limit: u32,
    ) -> Option<ClientCharge> {
        let key = ClientKey::of(listener, peer);
        let counts = self.counts.pin();
        let taken = counts.compute(key, |entry| match entry {
            Some((_, &n)) if n >= limit => Operation::Abort(()),
            Some((_, &n)) => Operation::Insert(n + 1),
            None if limit == 0 => Operation::Abort(()),
            None => Operation::Insert(1),
        });
        match taken {
            Compute::Aborted(()) => None,
            _ => Some(ClientCharge {
                table: self.clone(),
                key,
            }),
        }
    }

    /// Connections `peer`'s client holds on `listener` now.
    #[cfg(test)]
    fn held(&self, listener: ListenerId, peer: SocketAddr) -> u32 {
        let key = ClientKey::of(listener, peer);
        self.counts.pin().get(&key).copied().unwrap_or(0)
    }

    fn release(&self, key: ClientKey) {
        self.counts.pin().compute(key, |entry| match entry {
            Some((_, &n)) if n > 1 => Operation::Insert(n - 1),
            Some(_) => Operation::Remove,
            None => Operation::Abort(()),
        });
    }

    /// Clients with at least one connection, over all listeners.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.counts.len()
    }
}

/// One connection counted against its client; dropping it gives it back.
pub struct ClientCharge {
    table: Arc<ClientConns>,
    key: ClientKey,
}

impl Drop for ClientCharge {
    fn drop(&mut self) {
        self.table.release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const L: ListenerId = ListenerId(7);

    #[test]
    fn a_client_gets_its_limit_and_a_freed_one_back() {
        let t = Arc::new(ClientConns::default());
        let a = addr("192.0.2.1:1000");
        let held: Vec<_> = (0..3).map(|_| t.acquire(L, a, 3).unwrap()).collect();
        // Another port is the same client.
        assert!(t.acquire(L, addr("192.0.2.1:2000"), 3).is_none());
        assert_eq!(t.held(L, a), 3);
        // Other clients and other listeners are not affected.
        let other = t.acquire(L, addr("192.0.2.2:1000"), 3).unwrap();
        let elsewhere = t.acquire(ListenerId(8), a, 3).unwrap();
        drop(held);
        assert_eq!(t.held(L, a), 0);
        assert!(t.acquire(L, a, 3).is_some());
        drop((other, elsewhere));
        assert_eq!(t.clients(), 0, "entries at zero are removed");
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let t = Arc::new(ClientConns::default());
        let _a = t.acquire(L, addr("[2001:db8:1:2::1]:1"), 2).unwrap();
        let _b = t.acquire(L, addr("[2001:db8:1:2:ffff::9]:1"), 2).unwrap();
        assert!(t.acquire(L, addr("[2001:db8:1:2::77]:1"), 2).is_none());
        assert!(t.acquire(L, addr("[2001:db8:1:3::1]:1"), 2).is_some());
        let _c = t.acquire(L, addr("198.51.100.7:1"), 1).unwrap();
        assert!(t.acquire(L, addr("[::ffff:198.51.100.7]:1"), 1).is_none());
    }

    #[test]
    fn a_lowered_limit_refuses_until_the_client_is_below_it() {
        let t = Arc::new(ClientConns::default());
        let a = addr("192.0.2.1:1");
        let mut held: Vec<_> = (0..4).map(|_| t.acquire(L, a, 10).unwrap()).collect();
        assert!(t.acquire(L, a, 2).is_none());
        held.truncate(1);
        assert!(t.acquire(L, a, 2).is_some());
        assert!(t.acquire(L, a, 0).is_none(), "0 admits nothing here");
    }

    #[test]
    fn shards_racing_for_one_client_never_exceed_the_limit() {
        // Four threads take and give back charges of one client as fast as
        // they can; the count never passes the limit and ends at zero.
        let t = Arc::new(ClientConns::default());
        let a = addr("192.0.2.9:1");
        let peak = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (t, peak) = (t.clone(), peak.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..20_000 {
                        if i % 3 == 2 {
                            mine.pop();
                        } else if let Some(c) = t.acquire(L, a, 5) {
                            mine.push(c);
                        }
                        peak.fetch_max(t.held(L, a), std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::Relaxed), 5);
        assert_eq!(t.held(L, a), 0);
        assert_eq!(t.clients(), 0);
    }
}
