//! Safe wrappers for a binary upgrade (ADR 19): a `SOCK_SEQPACKET` pair,
//! descriptors passed with `SCM_RIGHTS` (see `sys::fdpass`), the inherited
//! end adopted by the new process, and what a received descriptor is.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

use crate::sys::fdpass;

pub use fdpass::Received;
/// Most descriptors one message carries.
pub const MAX_FDS_PER_MESSAGE: usize = fdpass::MAX_FDS;

/// A connected `SOCK_SEQPACKET` pair (message boundaries kept, close-on-exec).
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None)?;
    Ok((a.into(), b.into()))
}

/// Sends one message with `data` and `fds` (at most [`MAX_FDS_PER_MESSAGE`]).
pub fn send_with_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    fdpass::send_fds(sock, data, fds)
}

/// Receives one message and its descriptors; truncation is an error.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    fdpass::recv_fds(sock, buf)
}

/// Takes the descriptor our parent left open (named by an environment
/// variable it set); call once, at start-up. It must be an open socket.
pub fn adopt_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    fdpass::adopt_inherited(fd)
}

/// Whether `fd` survives `exec` (cleared just before spawning the child that
/// inherits it).
pub fn set_inheritable(fd: BorrowedFd<'_>, inherit: bool) -> io::Result<()> {
    SockRef::from(&fd).set_cloexec(!inherit)
}

/// Read and write timeouts of a blocking socket (`None`: wait forever).
pub fn set_timeouts(fd: BorrowedFd<'_>, t: Option<Duration>) -> io::Result<()> {
    let s = SockRef::from(&fd);
    s.set_read_timeout(t)?;
    s.set_write_timeout(t)
}

/// The kernel's send buffer for `fd`: the bound of a datagram queue.
pub fn set_send_buffer(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    SockRef::from(&fd).set_send_buffer_size(bytes)
}

/// `SIGUSR2` to process `pid` (`shardgate upgrade`).
pub fn signal_upgrade(pid: u32) -> io::Result<()> {
    crate::sys::kill(pid, libc::SIGUSR2)
}

/// `SIGHUP` to process `pid` (`shardgate reload` without an admin listener).
pub fn signal_reload(pid: u32) -> io::Result<()> {
    crate::sys::kill(pid, libc::SIGHUP)
}

/// Whether process `pid` exists (signal 0).
pub fn process_alive(pid: u32) -> bool {
    crate::sys::kill(pid, 0).is_ok()
}

/// What a received descriptor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketDesc {
    /// `SOCK_STREAM` (else `SOCK_DGRAM`).
    pub stream: bool,
    pub listening: bool,
    pub local: SocketAddr,
}

/// Describes an IP socket; anything else (a Unix socket, a file) is an error.
pub fn describe(fd: BorrowedFd<'_>) -> io::Result<SocketDesc> {
    let s = SockRef::from(&fd);
    let ty = s.r#type()?;
    let stream = if ty == Type::STREAM {
        true
    } else if ty == Type::DGRAM {
        false
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "neither stream nor datagram",
        ));
    };
    let local = s
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP socket"))?;
    Ok(SocketDesc {
        stream,
        listening: stream && s.is_listener()?,
        local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn seqpacket_keeps_boundaries_and_describe_tells_sockets_apart() {
        let (a, b) = seqpacket_pair().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        send_with_fds(a.as_fd(), b"one", &[l.as_fd()]).unwrap();
        send_with_fds(a.as_fd(), b"two", &[u.as_fd()]).unwrap();
        let mut buf = [0u8; 16];
        let r = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"one");
        let d = describe(r.fds[0].as_fd()).unwrap();
        assert!(d.stream && d.listening);
        assert_eq!(d.local, l.local_addr().unwrap());
        let r = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"two");
        let d = describe(r.fds[0].as_fd()).unwrap();
        assert!(!d.stream && !d.listening);
        assert_eq!(d.local, u.local_addr().unwrap());
        assert!(describe(a.as_fd()).is_err(), "a Unix socket is refused");
        // The peer closing reads as an empty message.
        drop(a);
        let r = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!((r.len, r.fds.len()), (0, 0));
    }
}
