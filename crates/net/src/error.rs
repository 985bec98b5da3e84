use std::io;
use std::net::SocketAddr;

use crate::ActiveDriver;

/// Everything that can go wrong below the runtime. Each variant names the
/// syscall or step, because an operator reading "Address in use" alone cannot
/// tell which of several listeners (or which setsockopt) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket call on a listening address failed (`op` is the syscall or option).
    #[error("{op} on {addr}: {source}")]
    Socket {
        op: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// A process/thread-level syscall failed (`op` names it).
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// A reuseport group needs at least one socket, and the kernel indexes a
    /// group with a u16.
    #[error("invalid shard count {0}: a listening group holds 1..=65535 sockets")]
    InvalidShards(usize),
    /// QUIC steering names the shard with one connection-ID byte, which must
    /// lie within the first 8 bytes of every connection ID.
    #[error(
        "QUIC steering needs 1..=256 shards and a shard offset 0..=6 \
         (got {shards} shards, offset {shard_offset})"
    )]
    InvalidQuicSteering { shards: usize, shard_offset: u8 },
    /// `verify_udp_steering`: a probe for one shard reached another shard's socket.
    #[error(
        "UDP steering self-test on {addr}: the probe for shard {expected} reached \
         socket {reached} instead; another process's socket is probably in the same \
         reuseport group (a previous gateway still running?), or a member socket was \
         closed and the kernel moved another one into its place"
    )]
    SteeringMismatch {
        addr: SocketAddr,
        expected: usize,
        reached: usize,
    },
    /// `verify_udp_steering`: a probe reached none of the group's sockets.
    #[error(
        "UDP steering self-test on {addr}: the probe for shard {expected} reached no \
         socket of this group within {waited_ms} ms; another process's socket in the \
         same reuseport group probably took it (a previous gateway still running?), \
         or a member socket was closed"
    )]
    SteeringProbeLost {
        addr: SocketAddr,
        expected: usize,
        waited_ms: u64,
    },
    /// `pin_current_thread` was asked for a CPU outside the affinity mask size.
    #[error("cpu {core} is out of range (this build supports cpus 0..{max})")]
    CoreOutOfRange { core: usize, max: usize },
    /// `driver = "io_uring"` was configured but the kernel (or seccomp) refuses it.
    #[error("io_uring requested but not available (kernel too old, or blocked by seccomp)")]
    UringUnavailable,
    /// The monoio runtime could not be built.
    #[error("building the {driver} runtime (entries {entries}): {source}")]
    Runtime {
        driver: ActiveDriver,
        entries: u32,
        #[source]
        source: io::Error,
    },
}
