//! `splice(2)` between a socket and a pipe, the pipe's size and the
//! socket's blocking mode: what moves a response body from the upstream
//! socket to the client socket without copying it through user space
//! (`crate::pipe`, ADR 22).
//!
//! Not io_uring's `IORING_OP_SPLICE`: the kernel always hands that op to an
//! io-wq worker thread (`REQ_F_FORCE_ASYNC`), a thread hop per call; measured
//! on Linux 6.18: 1000 of 1000 ops queued as async work even with the data
//! already in the socket. A non-blocking `splice` from the shard's thread and
//! a readiness wait when it says `EAGAIN` is what HAProxy does on epoll.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use super::cvt;

/// `splice(fd_in, NULL, fd_out, NULL, len, SPLICE_F_NONBLOCK)`, retried on
/// EINTR: moves up to `len` bytes from `fd_in` to `fd_out`, one of which
/// must be a pipe. `Ok(0)` means the source is at end of file.
///
/// `SPLICE_F_NONBLOCK` only makes the *pipe* side non-blocking; whether a
/// socket side waits is its own `O_NONBLOCK` flag (`tcp_splice_read` and
/// `splice_to_socket` read the file's flags), so callers make the socket
/// non-blocking first ([`set_nonblocking`]). A write to a socket whose peer
/// is gone fails with `EPIPE`; the `SIGPIPE` the kernel also raises is
/// ignored by the Rust runtime (it sets `SIGPIPE` to `SIG_IGN` before
/// `main`).
///
/// Takes raw fds because the sockets are owned by monoio types (as
/// [`super::peek_one`]); without offsets the call reads or writes no memory
/// of ours, so a stale or foreign fd can only yield an error (EBADF, EINVAL).
pub(crate) fn splice(fd_in: RawFd, fd_out: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: both offset pointers are null (allowed, and required for
        // pipes; sockets have no offset), so the kernel dereferences no
        // pointer of ours; it only acts on the two descriptors, which the
        // caller keeps open for the call.
        let n = unsafe {
            libc::splice(
                fd_in,
                std::ptr::null_mut(),
                fd_out,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_NONBLOCK,
            )
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// `fcntl(fd, F_SETPIPE_SZ, size)`: the pipe's capacity in bytes as the
/// kernel set it (rounded up to a power-of-two number of pages). Refused
/// above `/proc/sys/fs/pipe-max-size` (1 MiB) without `CAP_SYS_RESOURCE`,
/// and with `EPERM` once the user's pipes hold `pipe-user-pages-soft`.
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    let arg =
        libc::c_int::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: F_SETPIPE_SZ takes an int argument, no pointer; `fd` is a
    // borrowed, open descriptor (a non-pipe yields EBADF).
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, arg) };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// `fcntl(fd, F_GETPIPE_SZ)`: the pipe's capacity in bytes (64 KiB by
/// default, 2 pages for a user over `pipe-user-pages-soft`).
pub(crate) fn pipe_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: F_GETPIPE_SZ takes no argument and no pointer; `fd` is a
    // borrowed, open descriptor (a non-pipe yields EBADF).
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// Sets `O_NONBLOCK` on `fd` unless it is set already (one `F_GETFL`, and an
/// `F_SETFL` only the first time). io_uring's accept hands out blocking
/// sockets; its own operations do not care, a plain `splice` does.
///
/// Raw fd for the same reason as [`splice`]: `fcntl` with these commands
/// touches no memory of ours, and the flag is the open file's, shared with
/// any duplicate of the descriptor (which is why the parked-connection
/// poller, holding one, is unaffected: it only waits for readiness).
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument and no pointer; a stale fd is EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: F_SETFL takes an int argument, no pointer; a stale fd is EBADF.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::tests::pair;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    fn would_block(r: io::Result<usize>) -> bool {
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    #[test]
    fn bytes_move_socket_to_pipe_to_socket_exactly() {
        let (mut origin, up) = pair();
        let (client_side, mut client) = pair();
        up.set_nonblocking(true).unwrap();
        client_side.set_nonblocking(true).unwrap();
        let (pr, pw) = std::io::pipe().unwrap();
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let writer = std::thread::spawn(move || {
            origin.write_all(&body).unwrap();
            body
        });
        let mut got = Vec::new();
        let mut moved = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while moved < 200_000 {
            assert!(Instant::now() < deadline, "moved {moved}");
            match splice(up.as_raw_fd(), pw.as_raw_fd(), 65_536) {
                Ok(0) => panic!("early EOF"),
                Ok(mut n) => {
                    while n > 0 {
                        match splice(pr.as_raw_fd(), client_side.as_raw_fd(), n) {
                            Ok(k) => {
                                n -= k;
                                moved += k;
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                let mut chunk = vec![0; 65_536];
                                let k = client.read(&mut chunk).unwrap();
                                got.extend_from_slice(&chunk[..k]);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("{e}"),
            }
        }
        let body = writer.join().unwrap();
        drop(client_side);
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, body);
    }

    #[test]
    fn empty_sources_say_would_block_and_a_closed_one_eof() {
        let (origin, up) = pair();
        up.set_nonblocking(true).unwrap();
        let (pr, pw) = std::io::pipe().unwrap();
        assert!(would_block(splice(up.as_raw_fd(), pw.as_raw_fd(), 4096)));
        let (sink, _peer) = pair();
        assert!(
            would_block(splice(pr.as_raw_fd(), sink.as_raw_fd(), 4096)),
            "an empty pipe does not block either"
        );
        drop(origin);
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match splice(up.as_raw_fd(), pw.as_raw_fd(), 4096) {
                Ok(n) => break assert_eq!(n, 0, "EOF after the peer closed"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            splice(-1, pw.as_raw_fd(), 1).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        let (a, b) = pair();
        assert_eq!(
            splice(a.as_raw_fd(), b.as_raw_fd(), 1)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EINVAL),
            "neither end a pipe"
        );
    }

    #[test]
    fn a_blocking_socket_waits_despite_splice_f_nonblock() {
        // Why callers set O_NONBLOCK first: the flag only covers the pipe.
        let (_origin, up) = pair();
        up.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let (_pr, pw) = std::io::pipe().unwrap();
        let started = Instant::now();
        assert!(would_block(splice(up.as_raw_fd(), pw.as_raw_fd(), 4096)));
        assert!(
            started.elapsed() >= Duration::from_millis(90),
            "returned after {:?}: the socket's receive timeout, not SPLICE_F_NONBLOCK",
            started.elapsed()
        );
        set_nonblocking(up.as_raw_fd()).unwrap();
        assert!(socket2::SockRef::from(&up).nonblocking().unwrap());
        set_nonblocking(up.as_raw_fd()).unwrap();
        assert!(
            socket2::SockRef::from(&up).nonblocking().unwrap(),
            "idempotent"
        );
        let started = Instant::now();
        assert!(would_block(splice(up.as_raw_fd(), pw.as_raw_fd(), 4096)));
        assert!(started.elapsed() < Duration::from_millis(50));
        assert_eq!(
            set_nonblocking(-1).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }

    #[test]
    fn pipe_size_grows_and_refuses_what_is_no_pipe() {
        let (pr, pw) = std::io::pipe().unwrap();
        assert_eq!(pipe_size(pw.as_fd()).unwrap(), 64 * 1024, "Linux's default");
        assert_eq!(set_pipe_size(pw.as_fd(), 256 * 1024).unwrap(), 256 * 1024);
        assert_eq!(
            pipe_size(pr.as_fd()).unwrap(),
            256 * 1024,
            "one pipe, both ends"
        );
        // Rounded up to a power of two pages.
        assert_eq!(set_pipe_size(pw.as_fd(), 100_000).unwrap(), 128 * 1024);
        let (s, _peer) = pair();
        assert_eq!(
            set_pipe_size(s.as_fd(), 65_536).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(
            pipe_size(s.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(
            set_pipe_size(pw.as_fd(), usize::MAX).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
