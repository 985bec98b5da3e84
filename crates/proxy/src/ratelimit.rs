//! Rate limits: GCRA buckets in fixed-size, lock-free tables (see
//! docs/flow-control.md and ADR 14).
//!
//! A [`Table`] holds the buckets of one `[[route.rate_limit]]` rule, keyed
//! by a 64-bit [`key_hash`] of the request's key (client address, a header
//! value, or the route). Tables are `Send + Sync`: one can be shared by every
//! shard (`sharing = "atomic"`) or each shard can own one (`"split"`). The
//! caller passes the time in; nothing here reads a clock.

mod gcra;
mod table;
#[cfg(test)]
mod tests;

use std::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher13;

pub use table::{Limit, Table, Verdict, WAYS};

/// SipHash keys of [`key_hash`]. Fixed on purpose: the Redis backend sends
/// key hashes to a server shared by a fleet, so every gateway, of any
/// version, must hash a client the same way. Changing them is a breaking
/// change for mixed fleets.
const KEY0: u64 = 0x7368_6172_6467_6174; // "shardgat"
const KEY1: u64 = 0x652d_726c_2d6b_6579; // "e-rl-key"

/// The stable hash of a rate-limit key's bytes (SipHash-1-3, fixed keys).
pub fn key_hash(bytes: &[u8]) -> u64 {
    let mut h = SipHasher13::new_with_keys(KEY0, KEY1);
    h.write(bytes);
    h.finish()
}

/// The key hash of a client address; an IPv4 client seen on an IPv6 socket
/// (`::ffff:a.b.c.d`) hashes as the IPv4 address it is.
pub fn key_hash_ip(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => key_hash(&v4.octets()),
        IpAddr::V6(v6) => key_hash(&v6.octets()),
    }
}
