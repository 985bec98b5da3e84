//! Listening sockets: one `SO_REUSEPORT` socket per shard so the kernel, not a
//! shared accept queue, distributes connections and no shard ever contends on
//! another's lock.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;

use socket2::{Protocol, Socket, Type};

use crate::{steering_program, sys, Error, Steering};

/// The kernel counts the sockets of a reuseport group in a u16.
const MAX_GROUP: usize = u16::MAX as usize;

/// How each socket of a listening group is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOpts {
    /// `listen()` backlog per socket (the kernel caps it at `somaxconn`).
    pub backlog: u32,
    /// TCP Fast Open queue length per socket; 0 = off.
    pub tcp_fast_open: u32,
    /// Which program (if any) picks the socket for a new connection.
    pub steering: Steering,
    /// `TCP_DEFER_ACCEPT` (1 s): accept only once the client has sent data.
    pub defer_accept: bool,
}

/// One `SO_REUSEPORT` listening socket per shard, all in one group on `addr`;
/// element `i` is the socket a steering program's return value `i` selects
/// (TCP sockets join the group at `listen()`, which runs in vector order).
///
/// Port 0 binds the first socket to an ephemeral port and the others to the
/// port the kernel chose, so tests and "any port" configs still get one group.
///
/// `SO_REUSEPORT` means a busy port is *not* an error: if another group of the
/// same user already listens on `addr` (a second gateway, or the previous
/// process during a restart), these sockets join it, connections are split
/// across both processes, and attaching a program replaces the whole group's
/// program with indices that now also cover the other process's sockets. The
/// caller must make sure only one gateway owns an address (e.g. via the admin
/// listener, which does fail on a busy port).
///
/// The sockets are non-blocking (monoio's epoll driver needs that) and
/// `IPV6_V6ONLY` for v6 addresses, so `[::]` and `0.0.0.0` are separate
/// listeners instead of one silently shadowing the other.
pub fn bind_tcp_group(
    addr: SocketAddr,
    shards: usize,
    opts: &ListenOpts,
) -> Result<Vec<TcpListener>, Error> {
    if shards == 0 || shards > MAX_GROUP {
        return Err(Error::InvalidShards(shards));
    }
    if opts.tcp_fast_open > 0 {
        warn_if_server_tfo_disabled(addr);
    }
    let mut bind_addr = addr;
    let mut sockets = Vec::with_capacity(shards);
    for _ in 0..shards {
        let sock = listener(bind_addr, true, opts.backlog)?;
        if opts.tcp_fast_open > 0 {
            let qlen = libc::c_int::try_from(opts.tcp_fast_open).unwrap_or(libc::c_int::MAX);
            sys::set_int_opt(sock.as_fd(), libc::IPPROTO_TCP, libc::TCP_FASTOPEN, qlen).map_err(
                |source| Error::Socket {
                    op: "setsockopt(TCP_FASTOPEN)",
                    addr: bind_addr,
                    source,
                },
            )?;
        }
        if opts.defer_accept {
            // The value is in seconds: how long the kernel waits for data
            // (retransmitting its SYN-ACK) before it hands the connection
            // over anyway.
            sys::set_int_opt(sock.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1).map_err(
                |source| Error::Socket {
                    op: "setsockopt(TCP_DEFER_ACCEPT)",
                    addr: bind_addr,
                    source,
                },
            )?;
        }
        if bind_addr.port() == 0 {
            let chosen = sock
                .local_addr()
                .and_then(|a| {
                    a.as_socket()
                        .ok_or_else(|| std::io::Error::other("not an inet address"))
                })
                .map_err(|source| Error::Socket {
                    op: "getsockname",
                    addr,
                    source,
                })?;
            bind_addr.set_port(chosen.port());
        }
        sockets.push(sock);
    }
    if let (Some(prog), Some(first)) = (steering_program(opts.steering, shards), sockets.first()) {
        sys::attach_reuseport_cbpf(first.as_fd(), &prog).map_err(|source| Error::Socket {
            op: "setsockopt(SO_ATTACH_REUSEPORT_CBPF)",
            addr: bind_addr,
            source,
        })?;
    }
    Ok(sockets.into_iter().map(TcpListener::from).collect())
}

/// Applies `opts`'s backlog, Fast Open queue and `TCP_DEFER_ACCEPT` to a
/// socket that already listens (a group handed over by a binary upgrade,
/// whose options are the old config's). Linux takes all three on a
/// listening socket: a second `listen()` resizes the accept queue, and both
/// options are read at each SYN. The steering program and the group stay.
pub fn retune_tcp_listener(sock: impl AsFd, opts: &ListenOpts) -> Result<(), Error> {
    let sock = socket2::SockRef::from(&sock);
    let addr = sock
        .local_addr()
        .and_then(|a| {
            a.as_socket()
                .ok_or_else(|| std::io::Error::other("not an inet address"))
        })
        .map_err(|source| Error::Sys {
            op: "getsockname",
            source,
        })?;
    let err = |op: &'static str| move |source| Error::Socket { op, addr, source };
    let backlog = libc::c_int::try_from(opts.backlog).unwrap_or(libc::c_int::MAX);
    sock.listen(backlog).map_err(err("listen"))?;
    if opts.tcp_fast_open > 0 {
        warn_if_server_tfo_disabled(addr);
    }
    let qlen = libc::c_int::try_from(opts.tcp_fast_open).unwrap_or(libc::c_int::MAX);
    sys::set_int_opt(sock.as_fd(), libc::IPPROTO_TCP, libc::TCP_FASTOPEN, qlen)
        .map_err(err("setsockopt(TCP_FASTOPEN)"))?;
    let defer = libc::c_int::from(opts.defer_accept);
    sys::set_int_opt(
        sock.as_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        defer,
    )
    .map_err(err("setsockopt(TCP_DEFER_ACCEPT)"))?;
    Ok(())
}

/// `TCP_DEFER_ACCEPT` is set on `listener` (the kernel reports it in seconds,
/// rounded to its retransmission schedule: any non-zero value means on).
pub fn defer_accept_on(listener: &TcpListener) -> Result<bool, Error> {
    let addr = listener.local_addr().map_err(|source| Error::Sys {
        op: "getsockname",
        source,
    })?;
    sys::get_int_opt(listener.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT)
        .map(|v| v != 0)
        .map_err(|source| Error::Socket {
            op: "getsockopt(TCP_DEFER_ACCEPT)",
            addr,
            source,
        })
}

/// A plain listener (admin endpoint): no `SO_REUSEPORT`, so a port that is
/// already taken fails with EADDRINUSE instead of silently sharing traffic.
/// `SO_REUSEADDR` is still set so a restart is not blocked by TIME_WAIT.
/// Non-blocking, ready for `monoio::net::TcpListener::from_std`.
pub fn bind_tcp_single(addr: SocketAddr, backlog: u32) -> Result<TcpListener, Error> {
    listener(addr, false, backlog).map(TcpListener::from)
}

/// Reads `TCP_FASTOPEN` back from a listener: the queue length the kernel
/// holds, so start-up checks and tests can confirm what the config asked for.
pub fn tcp_fast_open_queue(listener: &TcpListener) -> Result<u32, Error> {
    let addr = listener.local_addr().map_err(|source| Error::Sys {
        op: "getsockname",
        source,
    })?;
    let v = sys::get_int_opt(listener.as_fd(), libc::IPPROTO_TCP, libc::TCP_FASTOPEN).map_err(
        |source| Error::Socket {
            op: "getsockopt(TCP_FASTOPEN)",
            addr,
            source,
        },
    )?;
    Ok(u32::try_from(v).unwrap_or(0))
}

/// `net.ipv4.tcp_fastopen` of this network namespace: bit 1 = client, bit 2 =
/// server. `None` when it cannot be read (no procfs, not Linux).
pub fn tfo_sysctl() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The queue is accepted either way; without the server bit the kernel just
/// never answers a Fast Open SYN with data, which is easy to miss.
fn warn_if_server_tfo_disabled(addr: SocketAddr) {
    match tfo_sysctl() {
        Some(v) if v & 2 == 0 => tracing::warn!(
            %addr,
            sysctl = v,
            "tcp_fast_open is configured but net.ipv4.tcp_fastopen lacks the server bit (2): \
             Fast Open will not happen until it is set to 3"
        ),
        Some(_) => {}
        None => tracing::debug!(%addr, "cannot read net.ipv4.tcp_fastopen"),
    }
}

fn listener(addr: SocketAddr, reuse_port: bool, backlog: u32) -> Result<Socket, Error> {
    let err = |op: &'static str| move |source| Error::Socket { op, addr, source };
    let sock = crate::socket::unbound(addr, Type::STREAM, Protocol::TCP, reuse_port)?;
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux, which
    // saves a setsockopt per connection (tested in `tests/group.rs`).
    sock.set_tcp_nodelay(true)
        .map_err(err("setsockopt(TCP_NODELAY)"))?;
    sock.bind(&addr.into()).map_err(err("bind"))?;
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    sock.listen(backlog).map_err(err("listen"))?;
    Ok(sock)
}
