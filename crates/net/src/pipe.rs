//! A pipe that moves bytes from one socket to another inside the kernel
//! (`splice(2)`, see `sys::splice`): a response body that needs no
//! transformation goes from the upstream socket to the client socket
//! without being copied into and out of a user-space buffer (ADR 22).

use std::io;
use std::io::{PipeReader, PipeWriter};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use crate::sys::splice;

/// A pipe and how many bytes sit in it. Both ends are the caller's; the
/// count is what lets a pool tell an empty pipe (reusable) from one a
/// failed transfer left bytes in (to be closed).
#[derive(Debug)]
pub struct Pipe {
    read: PipeReader,
    write: PipeWriter,
    capacity: usize,
    pending: usize,
}

impl Pipe {
    /// A pipe of `size` bytes when the kernel allows it (`F_SETPIPE_SZ`),
    /// else of whatever it gave (64 KiB by default): the size is a wish,
    /// its refusal no error.
    pub fn new(size: usize) -> io::Result<Pipe> {
        let (read, write) = std::io::pipe()?;
        let capacity = match splice::set_pipe_size(write.as_fd(), size) {
            Ok(n) => n,
            Err(_) => splice::pipe_size(write.as_fd())?,
        };
        Ok(Pipe {
            read,
            write,
            capacity,
            pending: 0,
        })
    }

    /// Moves up to `len` bytes (at most the room left) from the socket `src`
    /// into the pipe; `Ok(0)` is the end of `src`'s stream, `WouldBlock`
    /// means nothing has arrived, or no room (a full pipe, `len` 0). `src`
    /// must be non-blocking ([`set_nonblocking`]).
    pub fn fill(&mut self, src: RawFd, len: usize) -> io::Result<usize> {
        let len = len.min(self.room());
        if len == 0 {
            // splice(2) would answer 0, which reads as the end of `src`.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = splice::splice(src, self.write.as_raw_fd(), len)?;
        self.pending += n;
        Ok(n)
    }

    /// Moves bytes held in the pipe to the socket `dst`, as many as it
    /// takes now; `WouldBlock` when its send buffer is full, `Ok(0)` when the
    /// pipe is empty. `dst` must be non-blocking.
    pub fn drain(&mut self, dst: RawFd) -> io::Result<usize> {
        self.drain_at_most(dst, self.pending)
    }

    /// [`drain`](Self::drain), moving at most `max` bytes (the rest stays
    /// in the pipe, in order).
    pub fn drain_at_most(&mut self, dst: RawFd, max: usize) -> io::Result<usize> {
        let len = max.min(self.pending);
        if len == 0 {
            return Ok(0);
        }
        let n = splice::splice(self.read.as_raw_fd(), dst, len)?;
        self.pending -= n.min(self.pending);
        Ok(n)
    }

    /// Bytes in the pipe, not yet drained.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// What one [`fill`](Self::fill) may take at most.
    pub fn room(&self) -> usize {
        self.capacity - self.pending.min(self.capacity)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Makes a socket non-blocking (no-op when it is): `splice` waits on a
/// blocking socket whatever its flags say, and io_uring's accept returns
/// blocking ones.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    splice::set_nonblocking(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    #[test]
    fn counts_what_sits_in_the_pipe() {
        let (mut origin, up) = pair();
        let (down, mut client) = pair();
        set_nonblocking(up.as_raw_fd()).unwrap();
        set_nonblocking(down.as_raw_fd()).unwrap();
        let mut pipe = Pipe::new(128 * 1024).unwrap();
        assert_eq!(pipe.capacity(), 128 * 1024);
        assert_eq!(pipe.room(), 128 * 1024);
        let err = pipe.fill(up.as_raw_fd(), 1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        origin.write_all(b"hello, pipe").unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let n = loop {
            match pipe.fill(up.as_raw_fd(), 5) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {}
                other => break other.unwrap(),
            }
        };
        assert_eq!(n, 5, "no more than asked");
        assert_eq!(pipe.pending(), 5);
        assert_eq!(pipe.room(), 128 * 1024 - 5);
        assert_eq!(pipe.fill(up.as_raw_fd(), 100).unwrap(), 6);
        assert_eq!(pipe.pending(), 11);
        let err = pipe.fill(up.as_raw_fd(), 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "0 bytes is no EOF");
        assert_eq!(pipe.drain_at_most(down.as_raw_fd(), 7).unwrap(), 7);
        assert_eq!(pipe.pending(), 4);
        assert_eq!(pipe.drain(down.as_raw_fd()).unwrap(), 4);
        assert_eq!(pipe.pending(), 0);
        let mut got = [0u8; 11];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello, pipe");
        drop(origin);
        let n = loop {
            match pipe.fill(up.as_raw_fd(), 100) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {}
                other => break other.unwrap(),
            }
        };
        assert_eq!(n, 0, "end of stream");
        assert_eq!(pipe.drain(down.as_raw_fd()).unwrap(), 0, "nothing to drain");
    }

    #[test]
    fn a_refused_size_keeps_the_kernels() {
        // Above pipe-max-size (1 MiB) only CAP_SYS_RESOURCE may go; either
        // way the pipe is made and reports the size it really has.
        let pipe = Pipe::new(64 * 1024 * 1024).unwrap();
        assert!(pipe.capacity() >= 64 * 1024);
        assert!(pipe.capacity() <= 64 * 1024 * 1024);
    }
}
