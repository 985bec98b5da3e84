//! UDP reuseport groups for HTTP/3: one QUIC endpoint per shard, each on its
//! own member socket, with the kernel steering datagrams by connection ID
//! (see [`crate::quic_steering_program`]).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;

use socket2::{Protocol, Socket, Type};

use crate::{quic_steering_program, sys, Error, MAX_QUIC_SHARDS, MAX_SHARD_OFFSET};

/// The kernel counts the sockets of a reuseport group in a u16.
const MAX_GROUP: usize = u16::MAX as usize;

/// Receive and send buffer asked for per socket. QUIC is one socket per shard
/// for all its connections, so a burst queues here instead of being dropped.
/// The kernel caps the request at `net.core.rmem_max` / `wmem_max` (often
/// 208 KiB by default) without an error; we warn when that happens.
const UDP_BUFFER_BYTES: usize = 4 << 20;

/// One `SO_REUSEPORT` UDP socket per shard, all in one group on `addr`;
/// element `i` is the socket a steering program's return value `i` selects
/// (UDP sockets join the group at `bind()`, which runs in vector order).
///
/// `steer` is the shard byte's offset in the server's connection IDs
/// (`0..=MAX_SHARD_OFFSET`): the QUIC program is attached to the group right
/// after the last member is bound, before any socket is handed out, so no
/// datagram is read unsteered. `None` attaches nothing and the kernel hashes
/// the 4-tuple. Steering addresses at most [`MAX_QUIC_SHARDS`] shards.
///
/// Port 0 binds the first socket to an ephemeral port and the others to the
/// port the kernel chose. As with [`crate::bind_tcp_group`], a busy port is
/// not an error: sockets of the same user already bound there (a previous
/// gateway still shutting down) share the group, and the index-based program
/// then points at them too. Run [`crate::verify_udp_steering`] before serving.
///
/// The sockets are non-blocking, `IPV6_V6ONLY` for v6 addresses, and ask for
/// 4 MiB receive and send buffers (capped by the kernel, see above).
pub fn bind_udp_group(
    addr: SocketAddr,
    shards: usize,
    steer: Option<u8>,
) -> Result<Vec<UdpSocket>, Error> {
    if shards == 0 || shards > MAX_GROUP {
        return Err(Error::InvalidShards(shards));
    }
    if let Some(shard_offset) = steer {
        if shards > MAX_QUIC_SHARDS || shard_offset > MAX_SHARD_OFFSET {
            return Err(Error::InvalidQuicSteering {
                shards,
                shard_offset,
            });
        }
    }
    let mut bind_addr = addr;
    let mut sockets = Vec::with_capacity(shards);
    for _ in 0..shards {
        let sock = member(bind_addr)?;
        if bind_addr.port() == 0 {
            bind_addr.set_port(local_port(&sock, addr)?);
        }
        sockets.push(sock);
    }
    if let Some(first) = sockets.first() {
        warn_if_buffers_capped(first, bind_addr);
    }
    let program = steer.and_then(|offset| quic_steering_program(shards, offset));
    if let (Some(prog), Some(first)) = (program, sockets.first()) {
        sys::attach_reuseport_cbpf(first.as_fd(), &prog).map_err(|source| Error::Socket {
            op: "setsockopt(SO_ATTACH_REUSEPORT_CBPF)",
            addr: bind_addr,
            source,
        })?;
    }
    Ok(sockets.into_iter().map(UdpSocket::from).collect())
}

fn member(addr: SocketAddr) -> Result<Socket, Error> {
    let err = |op: &'static str| move |source| Error::Socket { op, addr, source };
    let sock = crate::socket::unbound(addr, Type::DGRAM, Protocol::UDP, true)?;
    sock.set_recv_buffer_size(UDP_BUFFER_BYTES)
        .map_err(err("setsockopt(SO_RCVBUF)"))?;
    sock.set_send_buffer_size(UDP_BUFFER_BYTES)
        .map_err(err("setsockopt(SO_SNDBUF)"))?;
    sock.bind(&addr.into()).map_err(err("bind"))?;
    Ok(sock)
}

fn local_port(sock: &Socket, addr: SocketAddr) -> Result<u16, Error> {
    sock.local_addr()
        .and_then(|a| {
            a.as_socket()
                .ok_or_else(|| std::io::Error::other("not an inet address"))
        })
        .map(|a| a.port())
        .map_err(|source| Error::Socket {
            op: "getsockname",
            addr,
            source,
        })
}

/// The kernel silently caps the buffers at `rmem_max`/`wmem_max` and reports
/// twice the granted size (its bookkeeping overhead), so a read-back below
/// twice the request means the sysctl is the limit. Every member gets the
/// same cap, so checking one is enough.
fn warn_if_buffers_capped(sock: &Socket, addr: SocketAddr) {
    let rcv = sock.recv_buffer_size().unwrap_or(0);
    let snd = sock.send_buffer_size().unwrap_or(0);
    let granted_in_full = 2 * UDP_BUFFER_BYTES;
    if rcv < granted_in_full || snd < granted_in_full {
        tracing::warn!(
            %addr,
            requested = UDP_BUFFER_BYTES,
            rcvbuf = rcv,
            sndbuf = snd,
            "UDP socket buffers capped by the kernel: raise net.core.rmem_max and \
             net.core.wmem_max to avoid dropping QUIC bursts"
        );
    }
}
