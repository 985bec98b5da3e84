//! Server connection IDs that name their shard, so the steering program (and
//! `shardgate_net::quic_owner`, its user-space twin) can find the shard that
//! owns a datagram from its first bytes.
//!
//! Layout (ADR 10), in the spirit of the IETF QUIC-LB draft:
//!
//! ```text
//!  byte 0          bytes 1..=k        byte k+1   bytes k+2 .. k+7
//! ┌──────────────┬──────────────────┬──────────┬──────────────────┐
//! │ gen:3 rand:5 │ server id (0–6)  │  shard   │ 6 random bytes   │
//! └──────────────┴──────────────────┴──────────┴──────────────────┘
//! ```
//!
//! - `gen` (0–6; 7 is QUIC-LB's "unroutable") is the configuration
//!   generation, so a later process (a binary upgrade) can tell its IDs from
//!   its predecessor's. One process uses one generation.
//! - The server id (`[listener.quic] server_id`) lets a QUIC-LB-aware L4
//!   balancer route a fleet by CID; it is plaintext, so it links the
//!   connections of one server (not of one client): use short ids.
//! - The shard byte is plaintext too: an observer learns which core serves a
//!   connection, nothing about the client. It limits a listener to 256 shards.
//! - 48 random bits make IDs of one shard unlinkable to each other.

use std::time::Duration;

use quinn::{ConnectionId, ConnectionIdGenerator};

/// Random bytes after the shard byte.
const NONCE: usize = 6;
/// QUIC-LB reserves generation 7 for "unroutable".
pub const MAX_GENERATION: u8 = 6;
/// With the shard byte at offset ≤ 7 it lies inside the ≥ 8-byte DCID every
/// client's first Initial carries (RFC 9000 §7.2), so Initials steer by it too.
pub const MAX_SERVER_ID: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidLayout {
    pub generation: u8,
    pub server_id: Vec<u8>,
}

impl CidLayout {
    /// `None` when the generation or the server id is out of range.
    pub fn new(generation: u8, server_id: &[u8]) -> Option<CidLayout> {
        (generation <= MAX_GENERATION && server_id.len() <= MAX_SERVER_ID).then(|| CidLayout {
            generation,
            server_id: server_id.to_vec(),
        })
    }

    /// Where the shard byte is, for the steering program.
    pub fn shard_offset(&self) -> u8 {
        // ≤ 7 by construction.
        (1 + self.server_id.len()) as u8
    }

    pub fn len(&self) -> usize {
        1 + self.server_id.len() + 1 + NONCE
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Fills `out` (at least `len()` bytes) with an ID for `shard`; `random`
    /// supplies the random bytes.
    fn write(&self, shard: u8, random: &[u8; 1 + NONCE], out: &mut [u8]) {
        let k = self.server_id.len();
        if let Some(b) = out.get_mut(0) {
            *b = (self.generation << 5) | (random[0] & 0x1f);
        }
        if let Some(dst) = out.get_mut(1..1 + k) {
            dst.copy_from_slice(&self.server_id);
        }
        if let Some(b) = out.get_mut(1 + k) {
            *b = shard;
        }
        if let Some(dst) = out.get_mut(2 + k..2 + k + NONCE) {
            dst.copy_from_slice(&random[1..]);
        }
    }

    /// The generation an ID of this layout carries.
    pub fn generation_of(cid: &[u8]) -> Option<u8> {
        cid.first().map(|b| b >> 5)
    }
}

/// quinn's ID generator for one shard.
pub struct ShardCids {
    layout: CidLayout,
    shard: u8,
    /// Mixed into the random bytes: keeps IDs distinct even if the OS
    /// generator ever failed.
    counter: u64,
}

impl ShardCids {
    /// `None` for a shard index that does not fit the shard byte.
    pub fn new(layout: CidLayout, shard: usize) -> Option<ShardCids> {
        Some(ShardCids::for_shard(layout, u8::try_from(shard).ok()?))
    }

    pub fn for_shard(layout: CidLayout, shard: u8) -> ShardCids {
        ShardCids {
            layout,
            shard,
            counter: 0,
        }
    }
}

impl ConnectionIdGenerator for ShardCids {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut random = [0u8; 1 + NONCE];
        // The OS generator: IDs must not be predictable (RFC 9000 §5.1).
        // It does not fail on Linux ≥ 3.17; if it ever did, the counter still
        // keeps this shard's IDs distinct (only predictable).
        if getrandom::fill(&mut random).is_err() {
            tracing::warn!("getrandom failed; connection ID is only counter-unique");
        }
        self.counter = self.counter.wrapping_add(1);
        for (r, c) in random[1..].iter_mut().zip(self.counter.to_le_bytes()) {
            *r ^= c;
        }
        let mut buf = [0u8; 1 + MAX_SERVER_ID + 1 + NONCE];
        self.layout.write(self.shard, &random, &mut buf);
        ConnectionId::new(buf.get(..self.layout.len()).unwrap_or(&buf))
    }

    fn cid_len(&self) -> usize {
        self.layout.len()
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_generation_server_id_and_shard_where_steering_reads_them() {
        let layout = CidLayout::new(3, &[0xaa, 0xbb]).expect("layout");
        assert_eq!(layout.shard_offset(), 3);
        assert_eq!(layout.len(), 10);
        let mut g = ShardCids::new(layout.clone(), 5).expect("gen");
        let a = g.generate_cid();
        let b = g.generate_cid();
        assert_eq!(a.len(), 10);
        assert_ne!(&a[..], &b[..], "random part differs");
        assert_eq!(CidLayout::generation_of(&a), Some(3));
        assert_eq!(&a[1..3], &[0xaa, 0xbb]);
        assert_eq!(a[3], 5);
        // A short-header packet carrying it steers to shard 5 of 8.
        let mut pkt = vec![0x40];
        pkt.extend_from_slice(&a);
        pkt.extend_from_slice(&[0; 20]);
        assert_eq!(shardgate_net::quic_owner(&pkt, 8, layout.shard_offset()), 5);
        // And a long-header one (Handshake packet to this DCID).
        let mut long = vec![0xe0, 0, 0, 0, 1, a.len() as u8];
        long.extend_from_slice(&a);
        long.extend_from_slice(&[0; 20]);
        assert_eq!(
            shardgate_net::quic_owner(&long, 8, layout.shard_offset()),
            5
        );
    }

    #[test]
    fn out_of_range_layouts_and_shards_are_refused() {
        assert!(
            CidLayout::new(7, &[]).is_none(),
            "7 is QUIC-LB's unroutable"
        );
        assert!(CidLayout::new(0, &[0; 7]).is_none());
        let l = CidLayout::new(0, &[0; 6]).expect("6 bytes fit");
        assert_eq!(l.shard_offset(), 7);
        assert!(ShardCids::new(l.clone(), 256).is_none());
        assert!(ShardCids::new(l, 255).is_some());
    }
}
