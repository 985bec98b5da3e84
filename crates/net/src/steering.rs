//! Classic BPF programs that pick a socket out of a `SO_REUSEPORT` group.
//!
//! Classic BPF (not eBPF) because it needs no capabilities and no verifier
//! round trip through `bpf(2)`: `SO_ATTACH_REUSEPORT_CBPF` takes the program
//! straight from user space. The program's return value is an index into the
//! group in join order (`listen()` for TCP, `bind()` for UDP); a value ≥ group
//! size falls back to the kernel's own hash, so `% shards` keeps every answer
//! inside the group.

use libc::sock_filter;

/// How a `SO_REUSEPORT` group picks a shard for a new connection. Net's own
/// copy of the config's enum, so this crate does not depend on the config
/// parser; the server converts at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steering {
    /// The CPU that handled the SYN (follows NIC RSS).
    Cpu,
    /// The kernel's receive hash modulo the shard count.
    Hash,
    /// No program: the kernel's own reuseport hash.
    None,
}

/// The steering program for `shards` sockets, or `None` when there is nothing
/// to steer (one shard, or `Steering::None` = let the kernel hash).
///
/// `Cpu` returns the CPU that handled the SYN modulo `shards`: with NIC RSS
/// spreading flows over cores, the connection lands on the shard pinned to the
/// core that already has its packets warm in cache. On loopback the "SYN CPU" is
/// the client's CPU. `Hash` uses the packet's receive hash (`skb->hash`, the
/// 4-tuple hash), which spreads evenly regardless of where the SYN arrived.
pub fn steering_program(mode: Steering, shards: usize) -> Option<Vec<sock_filter>> {
    if shards <= 1 {
        return None;
    }
    let ancillary = match mode {
        Steering::Cpu => libc::SKF_AD_CPU,
        Steering::Hash => libc::SKF_AD_RXHASH,
        Steering::None => return None,
    };
    // A group this large cannot exist (the kernel counts sockets in a u16), so
    // this only guards the conversion.
    let modulus = u32::try_from(shards).ok()?;
    // Ancillary loads live at negative offsets; `k` is the two's-complement
    // bit pattern of SKF_AD_OFF + field, exactly what the C macro produces.
    let offset = (libc::SKF_AD_OFF + ancillary) as u32;
    Some(vec![
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset),
        stmt(libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K, modulus),
        stmt(libc::BPF_RET | libc::BPF_A, 0),
    ])
}

/// `BPF_STMT`: opcodes are 16 bits in `sock_filter`; libc types the constants
/// as u32 but every combination used here is below 0x100.
pub(crate) fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(prog: &[sock_filter]) -> Vec<(u16, u8, u8, u32)> {
        prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }

    #[test]
    fn cpu_program_encoding() {
        let prog = steering_program(Steering::Cpu, 4).unwrap();
        // ld [0xfffff000 + 36]; mod #4; ret a  (opcodes from linux/bpf_common.h)
        assert_eq!(
            raw(&prog),
            vec![(0x20, 0, 0, 0xffff_f024), (0x94, 0, 0, 4), (0x16, 0, 0, 0)]
        );
    }

    #[test]
    fn hash_program_encoding() {
        let prog = steering_program(Steering::Hash, 3).unwrap();
        assert_eq!(
            raw(&prog),
            vec![(0x20, 0, 0, 0xffff_f020), (0x94, 0, 0, 3), (0x16, 0, 0, 0)]
        );
    }

    #[test]
    fn modulus_follows_shard_count() {
        for n in [2usize, 7, 64, 65_535] {
            let prog = steering_program(Steering::Hash, n).unwrap();
            assert_eq!(prog.len(), 3);
            assert_eq!(prog[1].k, n as u32);
        }
    }

    #[test]
    fn nothing_to_steer() {
        assert!(steering_program(Steering::None, 4).is_none());
        assert!(steering_program(Steering::Cpu, 1).is_none());
        assert!(steering_program(Steering::Hash, 1).is_none());
        assert!(steering_program(Steering::Hash, 0).is_none());
    }
}
