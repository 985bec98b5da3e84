//! The unsafe boundary of shardgate: everything that needs raw syscalls.
//!
//! All other crates are `#![forbid(unsafe_code)]`; they get sockets, BPF
//! steering, CPU affinity and runtimes from here. Inside this crate only
//! [`sys`] may use `unsafe`, each block with a `// SAFETY:` argument and a test.
//!
//! What was measured or decided (Linux 6.18, 2 vCPU, see `/work/shared/FACTS.md`):
//! - io_uring rings are built with `SINGLE_ISSUER | DEFER_TASKRUN`; this kernel
//!   accepts it (and `COOP_TASKRUN | TASKRUN_FLAG`, and plain), checked by
//!   `runtime::tests::uring_setups_accepted_by_this_kernel`. monoio's default
//!   ring cost 35–40 % more CPU per request; on kernels older than 6.1 the next
//!   set-up in line is used and logged. Rings above 32768 entries get EINVAL.
//! - Listeners are `SO_REUSEPORT` groups, one socket per shard, with an
//!   optional classic BPF program choosing the shard (`SKF_AD_RXHASH % n`
//!   spreads evenly; `SKF_AD_CPU % n` follows the CPU that took the SYN, which
//!   on loopback is the client's CPU). A second group on the same address joins
//!   the first rather than failing (documented on [`bind_tcp_group`]).
//! - TCP Fast Open's queue is set per socket even when the sysctl lacks the
//!   server bit (the kernel accepts it); we warn, because it will not be used.
//! - HTTP/3 listens on a UDP `SO_REUSEPORT` group ([`bind_udp_group`]), one
//!   QUIC endpoint per shard. A classic BPF program steers each datagram by the
//!   shard byte of its destination connection ID ([`quic_steering_program`];
//!   [`quic_owner`] is the same rule in user space, checked against the kernel
//!   on real sockets). The program indexes the group, whose order the kernel
//!   changes when a member closes or another process's socket joins, so
//!   [`verify_udp_steering`] probes every shard at start-up.
//! - Pooled upstream connections are checked with one `MSG_PEEK` before reuse.
//! - Response bodies move socket → pipe → socket with plain non-blocking
//!   `splice(2)` ([`Pipe`]); io_uring's splice op always runs on an io-wq
//!   worker thread (measured: every op), so it is not used.
#![deny(unsafe_code)]

mod cpu;
mod driver;
mod error;
mod handover;
mod listen;
mod peer;
mod pipe;
mod poller;
mod quic_steering;
mod runtime;
mod skip;
mod socket;
mod steering;
mod sys;
mod udp;
mod udp_verify;

pub use cpu::{allowed_cores, online_cores, pin_current_thread};
pub use driver::{ActiveDriver, Driver};
pub use error::Error;
pub use handover::{
    adopt_inherited_fd, describe, process_alive, recv_with_fds, send_with_fds, seqpacket_pair,
    set_inheritable, set_send_buffer, set_timeouts, signal_reload, signal_upgrade, Received,
    SocketDesc, MAX_FDS_PER_MESSAGE,
};
pub use listen::{
    bind_tcp_group, bind_tcp_single, defer_accept_on, retune_tcp_listener, tcp_fast_open_queue,
    tfo_sysctl, ListenOpts,
};
pub use peer::{peek_state, reset_on_close, shutdown_socket, stop_listening, PeerState};
pub use pipe::{set_nonblocking, Pipe};
pub use poller::{duplicate, Poller};
pub use quic_steering::{quic_owner, quic_steering_program, MAX_QUIC_SHARDS, MAX_SHARD_OFFSET};
pub use sys::iobuf::{first_iovec, init_bytes, put, put_first_iovec};

/// Gives memory the allocator holds as free back to the kernel (see
/// `sys::malloc_trim`); called after buffer pools shrink.
pub fn release_free_memory() {
    sys::malloc_trim();
}
pub use runtime::{run_on_runtime, uring_available};
pub use skip::{driver_check, run_driver_half, DriverCheck, ALLOW_SKIP_DRIVER_VAR};
pub use steering::{steering_program, Steering};
pub use udp::bind_udp_group;
pub use udp_verify::verify_udp_steering;
