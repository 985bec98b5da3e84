//! `floor-uring`: `floor` (src/main.rs) without monoio, driving io_uring by
//! hand with the features ADR 21 names as the next candidate, to measure on
//! the rig whether a forwarder using them gets below 0.85× nginx's CPU per
//! keep-alive request before anything is forked.
//!
//! Same job as `floor` without `--pool` or timers: one upstream keep-alive
//! connection per client connection (connected at accept), httparse on both
//! heads, responses delimited by Content-Length, a listener bound as the
//! gateway binds (`TCP_DEFER_ACCEPT`, `SO_REUSEPORT`, `TCP_NODELAY` inherited
//! by accepted sockets). Different in how: one thread, one ring
//! (`SINGLE_ISSUER | DEFER_TASKRUN`) and a hand-written completion loop;
//! registered files throughout (multishot accept allocates the client's
//! slot); one multishot receive per socket into a provided buffer ring,
//! re-armed only when it ends; bytes forwarded verbatim out of the buffer
//! they were received in (no copy in user space), the buffer returned to the
//! ring when its send completes; `POLL_FIRST` on the upstream's receive;
//! connections closed by a fixed-file close, cancelling first only what is
//! still in flight. See `uring/proxy.rs` for the loop, `uring/sys.rs` for the
//! (only) `unsafe`.
//!
//! Usage: `floor-uring LISTEN UPSTREAM`.
#![deny(unsafe_code)]

mod uring;

use std::net::SocketAddr;

use anyhow::{bail, Context};

use uring::proxy::{Limits, Proxy};

const LIMITS: Limits = Limits {
    conns: 4096,
    // Buffers cycle through the ring in order, so fewer is warmer in cache;
    // 32 KiB holds a 16 KiB response with its head in one receive.
    bufs: 512,
    buf_size: 32 * 1024,
    sq_entries: 4096,
};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream), None) = (args.next(), args.next(), args.next()) else {
        bail!("usage: floor-uring LISTEN UPSTREAM");
    };
    let listen: SocketAddr = listen.parse().context("LISTEN")?;
    let upstream: SocketAddr = upstream.parse().context("UPSTREAM")?;
    let listener = shardgate_floor::bind(listen)?;
    let mut proxy = Proxy::new(&listener, upstream, &LIMITS).context("io_uring setup")?;
    proxy.run().context("io_uring")
}
