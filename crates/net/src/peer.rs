//! Liveness check for pooled upstream connections.
//!
//! A keep-alive connection can be closed by the origin at any moment while it
//! sits in the pool. Sending a request on it and only then seeing EOF/RST turns
//! into a retry (or a 502 for non-idempotent requests), so the pool looks
//! before it reuses: one non-blocking peek, no allocation, no state change.

use std::io;
use std::os::fd::RawFd;

use crate::sys;

/// What a pooled connection looks like right before reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Nothing to read, still open: safe to send the next request.
    Idle,
    /// The peer sent FIN or the socket is in error: drop it.
    Closed,
    /// Bytes arrived that no request asked for (a late or bogus response):
    /// the framing is unknown, so it must not be reused either.
    HasData,
}

/// Peeks one byte with `MSG_PEEK | MSG_DONTWAIT`. Only call it on an idle
/// pooled socket: with a read in flight on the same fd (an io_uring recv) the
/// answer would race that read.
pub fn peek_state(fd: RawFd) -> PeerState {
    match sys::peek_one(fd) {
        Ok(0) => PeerState::Closed,
        Ok(_) => PeerState::HasData,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => PeerState::Idle,
        Err(_) => PeerState::Closed,
    }
}

/// Stops a listening socket synchronously (see [`sys::shutdown_fd`]); used by
/// a graceful stop so no connection is accepted after the stop returns.
pub fn stop_listening(fd: RawFd) -> io::Result<()> {
    sys::shutdown_fd(fd)
}

/// `shutdown(SHUT_RDWR)` on a connected socket: sends FIN and makes the socket
/// readable (EOF) for whoever waits on it. The server uses it to end idle
/// connections whose tasks wait on readiness alone.
pub fn shutdown_socket(fd: RawFd) -> io::Result<()> {
    sys::shutdown_fd(fd)
}

/// Makes the close of a connected socket a reset that drops its unsent data
/// at once. For a client that stopped reading (the send timeout fired): a
/// normal close would leave the socket in FIN-WAIT-1 holding megabytes of
/// kernel memory for minutes (nginx's `reset_timedout_connection`).
pub fn reset_on_close(fd: RawFd) -> io::Result<()> {
    sys::linger_zero(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    /// (pooled client side, origin side)
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    /// Loopback delivers synchronously in practice; the wait only guards
    /// against a slow softirq, it never turns a wrong state into a pass.
    fn settle(fd: RawFd) -> PeerState {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let state = peek_state(fd);
            if state != PeerState::Idle || Instant::now() > deadline {
                return state;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn idle_then_data() {
        let (c, mut s) = pair();
        assert_eq!(peek_state(c.as_raw_fd()), PeerState::Idle);
        // Idle is stable: repeated checks change nothing.
        assert_eq!(peek_state(c.as_raw_fd()), PeerState::Idle);
        s.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!(settle(c.as_raw_fd()), PeerState::HasData);
        assert_eq!(
            peek_state(c.as_raw_fd()),
            PeerState::HasData,
            "peek consumed nothing"
        );
    }

    #[test]
    fn closed_after_fin() {
        let (c, s) = pair();
        drop(s);
        assert_eq!(settle(c.as_raw_fd()), PeerState::Closed);
    }

    #[test]
    fn closed_after_reset() {
        let (c, s) = pair();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // linger 0 → RST; recv then fails with ECONNRESET
        assert_eq!(settle(c.as_raw_fd()), PeerState::Closed);
    }

    #[test]
    fn bad_fd_is_closed() {
        assert_eq!(peek_state(-1), PeerState::Closed);
    }

    #[test]
    fn works_on_a_blocking_socket_without_blocking() {
        let (c, _s) = pair();
        c.set_nonblocking(false).unwrap();
        assert_eq!(peek_state(c.as_raw_fd()), PeerState::Idle);
    }

    #[test]
    fn reset_on_close_resets_and_drops_unsent_data() {
        let (c, s) = pair();
        // Unsent data: far more than the peer's window while it reads nothing.
        c.set_nonblocking(true).unwrap();
        let chunk = vec![7u8; 1 << 20];
        let mut sent = 0;
        while let Ok(n) = (&c).write(&chunk) {
            sent += n;
        }
        assert!(sent > 0);
        reset_on_close(c.as_raw_fd()).unwrap();
        let linger = socket2::SockRef::from(&c).linger().unwrap();
        assert_eq!(linger, Some(Duration::ZERO));
        drop(c);
        // The peer sees a reset (after at most what already arrived).
        let mut s = s;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let start = Instant::now();
        let reset = loop {
            match std::io::Read::read(&mut s, &mut buf) {
                Ok(0) => break false,
                Ok(_) => {}
                Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
            }
            assert!(start.elapsed() < Duration::from_secs(5));
        };
        assert!(reset, "a FIN, not a reset");
        assert!(reset_on_close(-1).is_err(), "a bad descriptor is an error");
    }
}
