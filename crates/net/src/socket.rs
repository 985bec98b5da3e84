//! The set-up every listening socket shares, TCP or UDP.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::Error;

/// A new non-blocking socket for `addr`, not yet bound: `SO_REUSEADDR` (a
/// restart is not blocked by TIME_WAIT), `SO_REUSEPORT` when asked (one
/// member of a shard group), and `IPV6_V6ONLY` for v6 addresses, so `[::]`
/// and `0.0.0.0` are separate listeners instead of one shadowing the other.
pub(crate) fn unbound(
    addr: SocketAddr,
    ty: Type,
    protocol: Protocol,
    reuse_port: bool,
) -> Result<Socket, Error> {
    let err = |op: &'static str| move |source| Error::Socket { op, addr, source };
    let sock = Socket::new(Domain::for_address(addr), ty, Some(protocol)).map_err(err("socket"))?;
    sock.set_reuse_address(true)
        .map_err(err("setsockopt(SO_REUSEADDR)"))?;
    if reuse_port {
        sock.set_reuse_port(true)
            .map_err(err("setsockopt(SO_REUSEPORT)"))?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(true)
            .map_err(err("setsockopt(IPV6_V6ONLY)"))?;
    }
    sock.set_nonblocking(true)
        .map_err(err("fcntl(O_NONBLOCK)"))?;
    Ok(sock)
}
