//! Steering QUIC datagrams to the shard that owns their connection.
//!
//! Every shard runs its own QUIC endpoint on its own member of one UDP
//! `SO_REUSEPORT` group, so a datagram must reach the member whose endpoint
//! holds the connection state. The server's connection IDs carry the owning
//! shard's index in the byte at `shard_offset`; the program below reads that
//! byte of the destination connection ID (DCID) and picks `byte % shards`.
//!
//! An Initial packet's DCID is the client's random choice (RFC 9000 §7.2: at
//! least 8 bytes), so a new connection lands on a random shard, which then
//! issues connection IDs naming itself; every later packet follows them.
//!
//! Offsets: on a UDP reuseport group the program sees the UDP payload at
//! offset 0 (the kernel pulls the UDP header off first). A long header
//! (first bit set) is 1 flags byte, 4 version bytes and 1 DCID-length byte,
//! so its DCID starts at 6; a short header has no length byte and its DCID
//! starts at 1. [`quic_owner`] is the same rule in user space and must stay
//! the exact twin of [`quic_steering_program`] (tested on real sockets in
//! `tests/udp_group.rs`).

use libc::sock_filter;

use crate::steering::stmt;

/// Highest supported `shard_offset`: the shard byte must lie inside the first
/// 8 DCID bytes, which every Initial DCID has (RFC 9000 §7.2).
pub const MAX_SHARD_OFFSET: u8 = 6;

/// One byte names the shard, so at most 256 shards can be steered.
pub const MAX_QUIC_SHARDS: usize = 256;

/// Payload offset of the first DCID byte in a long-header packet.
const LONG_DCID_START: u32 = 6;
/// Payload offset of the first DCID byte in a short-header packet.
const SHORT_DCID_START: u32 = 1;
/// The header-form bit of the first byte (RFC 9000 §17.2).
const LONG_HEADER_BIT: u32 = 0x80;

/// The classic BPF program that sends each datagram to member
/// `dcid[shard_offset] % shards` of the group, or `None` when there is nothing
/// to steer (one shard).
///
/// A datagram too short for a load (empty, or shorter than the shard byte's
/// offset) makes a classic BPF program return 0, i.e. socket 0; such a
/// datagram is not a valid QUIC packet and shard 0's endpoint drops it.
/// [`quic_owner`] answers 0 for it too.
///
/// The caller keeps `shard_offset <= MAX_SHARD_OFFSET` and
/// `shards <= MAX_QUIC_SHARDS` ([`crate::bind_udp_group`] checks both); the
/// program itself is well-formed for any value.
pub fn quic_steering_program(shards: usize, shard_offset: u8) -> Option<Vec<sock_filter>> {
    if shards <= 1 {
        return None;
    }
    let modulus = u32::try_from(shards).ok()?;
    let off = u32::from(shard_offset);
    Some(vec![
        // A = payload[0] (first byte: header form)
        stmt(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, 0),
        // long header → next; short header → skip 2 (to the short-header load)
        jump(
            libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
            LONG_HEADER_BIT,
            0,
            2,
        ),
        stmt(
            libc::BPF_LD | libc::BPF_B | libc::BPF_ABS,
            LONG_DCID_START + off,
        ),
        stmt(libc::BPF_JMP | libc::BPF_JA, 1),
        stmt(
            libc::BPF_LD | libc::BPF_B | libc::BPF_ABS,
            SHORT_DCID_START + off,
        ),
        stmt(libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K, modulus),
        stmt(libc::BPF_RET | libc::BPF_A, 0),
    ])
}

/// The shard that owns `datagram`: exactly what [`quic_steering_program`]
/// makes the kernel choose, so user space (e.g. a shard handing a packet on)
/// and the kernel never disagree. 0 when the datagram is too short to hold
/// the shard byte (as the program's failed load), or `shards` is 0 or 1.
pub fn quic_owner(datagram: &[u8], shards: usize, shard_offset: u8) -> usize {
    let Some(&first) = datagram.first() else {
        return 0;
    };
    if shards <= 1 {
        return 0;
    }
    let start = if u32::from(first) & LONG_HEADER_BIT != 0 {
        LONG_DCID_START
    } else {
        SHORT_DCID_START
    };
    let at = (start + u32::from(shard_offset)) as usize;
    datagram
        .get(at)
        .map_or(0, |&byte| usize::from(byte) % shards)
}

/// `BPF_JUMP`: a conditional jump with its own skip counts.
fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        jt,
        jf,
        ..stmt(code, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(prog: &[sock_filter]) -> Vec<(u16, u8, u8, u32)> {
        prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }

    #[test]
    fn quic_program_encoding() {
        let prog = quic_steering_program(4, 2).unwrap();
        // ldb [0]; jset #0x80, 0, 2; ldb [8]; ja +1; ldb [3]; mod #4; ret a
        // (opcodes from linux/bpf_common.h)
        assert_eq!(
            raw(&prog),
            vec![
                (0x30, 0, 0, 0),
                (0x45, 0, 2, 0x80),
                (0x30, 0, 0, 8),
                (0x05, 0, 0, 1),
                (0x30, 0, 0, 3),
                (0x94, 0, 0, 4),
                (0x16, 0, 0, 0),
            ]
        );
    }

    #[test]
    fn quic_program_follows_offset_and_shards() {
        for (n, off) in [(2usize, 0u8), (3, 6), (256, 1)] {
            let prog = quic_steering_program(n, off).unwrap();
            assert_eq!(prog.len(), 7);
            assert_eq!(prog[2].k, 6 + u32::from(off), "long-header load");
            assert_eq!(prog[4].k, 1 + u32::from(off), "short-header load");
            assert_eq!(prog[5].k, n as u32);
        }
        assert!(quic_steering_program(1, 0).is_none());
        assert!(quic_steering_program(0, 0).is_none());
    }

    #[test]
    fn owner_reads_the_dcid_byte() {
        // Short header: DCID from byte 1.
        let short = [0x40, 10, 11, 12, 13, 14, 15, 16, 17];
        assert_eq!(quic_owner(&short, 4, 0), 10 % 4);
        assert_eq!(quic_owner(&short, 3, 6), 16 % 3);
        // Long header: flags, 4 version bytes, DCID length, DCID.
        let long = [0xc0, 0, 0, 0, 1, 8, 20, 21, 22, 23, 24, 25, 26, 27];
        assert_eq!(quic_owner(&long, 4, 0), 20 % 4);
        assert_eq!(quic_owner(&long, 5, 6), 26 % 5);
        // Only the header-form bit decides, not the fixed bit.
        let long_no_fixed = [0x80, 0, 0, 0, 1, 8, 7];
        assert_eq!(quic_owner(&long_no_fixed, 4, 0), 3);
    }

    #[test]
    fn owner_of_short_datagrams_is_zero() {
        assert_eq!(quic_owner(&[], 4, 0), 0);
        assert_eq!(quic_owner(&[0x40], 4, 0), 0);
        assert_eq!(quic_owner(&[0x40, 3, 3], 4, 2), 0);
        assert_eq!(quic_owner(&[0xc0, 0, 0, 0, 1, 8], 4, 0), 0);
        assert_eq!(quic_owner(&[0x40, 3], 1, 0), 0);
        assert_eq!(quic_owner(&[0x40, 3], 0, 0), 0);
    }
}
