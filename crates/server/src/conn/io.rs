//! Owned-buffer I/O with deadlines.
//!
//! monoio (like io_uring) takes buffers by value. These helpers keep each buffer
//! in a `&mut Vec<u8>` slot between operations: the buffer moves into the
//! operation and back. When a deadline cancels an operation the buffer stays with
//! the cancelled operation and the slot is left empty (capacity 0); the
//! connection is closed on that path anyway, and the pool refuses such a buffer.

use std::io;
use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use shardgate_proxy::{Error, ErrorKind};

use crate::upstream::UpStream;

/// How an I/O step failed: the deadline passed, or the OS said no (with its
/// errno, which the request's error keeps for the log).
#[derive(Debug, Clone, Copy)]
pub enum IoFail {
    Timeout,
    Io(Option<i32>),
}

impl From<io::Error> for IoFail {
    fn from(e: io::Error) -> Self {
        IoFail::Io(e.raw_os_error())
    }
}

impl IoFail {
    pub fn errno(self) -> Option<i32> {
        match self {
            IoFail::Timeout => None,
            IoFail::Io(e) => e,
        }
    }

    /// A failed write of a request to its origin. Nothing of a response
    /// came back yet, so resending is safe for a request that can be
    /// replayed whole (the retry rule adds its other conditions). A write
    /// cancelled by its deadline kept the buffer it was lent: that is a
    /// timeout, never retried, so a retry always has its buffers.
    pub fn upstream_write(self, replayable: bool) -> Error {
        match self {
            IoFail::Timeout => Error::new(ErrorKind::UpstreamTimeout),
            IoFail::Io(errno) => {
                Error::after_send(ErrorKind::UpstreamReset, replayable).with_errno(errno)
            }
        }
    }
}

/// Appends whatever the socket has (up to the buffer's spare capacity) to `buf`;
/// `Ok(0)` means the peer closed its side (or the buffer had no room: callers
/// make room first).
pub async fn read_more<R: AsyncReadRent>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    limit: Duration,
) -> Result<usize, IoFail> {
    read_at_most(stream, buf, usize::MAX, limit).await
}

/// [`read_more`] bounded by a deadline a phase computed once (a response
/// head's, a request head's), instead of a limit counted from now: no clock
/// read per read.
pub async fn read_more_until<R: AsyncReadRent>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<usize, IoFail> {
    read_into(stream, buf, usize::MAX, Limit::At(deadline)).await
}

/// [`read_more`], taking at most `max` bytes.
pub async fn read_at_most<R: AsyncReadRent>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    limit: Duration,
) -> Result<usize, IoFail> {
    read_into(stream, buf, max, Limit::After(limit)).await
}

enum Limit {
    After(Duration),
    At(Instant),
}

async fn read_into<R: AsyncReadRent>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    limit: Limit,
) -> Result<usize, IoFail> {
    let b = std::mem::take(buf);
    let len = b.len();
    if len >= b.capacity() || max == 0 {
        *buf = b;
        return Ok(0);
    }
    let end = b.capacity().min(len.saturating_add(max));
    let read = stream.read(b.slice_mut(len..end));
    let done = match limit {
        Limit::After(d) => monoio::time::timeout(d, read).await,
        Limit::At(t) => monoio::time::timeout_at(t.into(), read).await,
    };
    match done {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            Ok(res?)
        }
        Err(_) => Err(IoFail::Timeout),
    }
}

/// Writes `buf[from..to]` completely.
pub async fn write_range<W: AsyncWriteRent>(
    stream: &mut W,
    buf: &mut Vec<u8>,
    from: usize,
    to: usize,
    limit: Duration,
) -> Result<(), IoFail> {
    if from >= to {
        return Ok(());
    }
    let b = std::mem::take(buf);
    match monoio::time::timeout(limit, stream.write_all(b.slice(from..to))).await {
        Ok((res, slice)) => {
            *buf = slice.into_inner();
            res.map(|_| ()).map_err(IoFail::from)
        }
        Err(_) => Err(IoFail::Timeout),
    }
}

/// Writes all of `buf`.
pub async fn write_all<W: AsyncWriteRent>(
    stream: &mut W,
    buf: &mut Vec<u8>,
    limit: Duration,
) -> Result<(), IoFail> {
    let n = buf.len();
    write_range(stream, buf, 0, n, limit).await
}

/// Moves unconsumed bytes `buf[pos..]` to the front so the next read has room.
pub fn compact(buf: &mut Vec<u8>, pos: &mut usize) {
    if *pos == 0 {
        return;
    }
    let len = buf.len();
    if *pos >= len {
        buf.clear();
    } else {
        buf.copy_within(*pos..len, 0);
        buf.truncate(len - *pos);
    }
    *pos = 0;
}

/// A client or upstream stream: plain TCP or TLS over TCP.
pub trait Io: AsyncReadRent + AsyncWriteRent {
    /// The socket itself when bytes may move to or from it untouched (no
    /// TLS record layer in between): what a body splice needs (ADR 22).
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }

    /// The socket's descriptor, also under a TLS record layer: for socket
    /// options such as a reset at close.
    fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        self.tcp().map(std::os::fd::AsRawFd::as_raw_fd)
    }
}

impl Io for TcpStream {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl Io for UpStream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            UpStream::Plain(s) => Some(s),
            UpStream::Tls(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every operation here is wrapped in a monoio timeout, and the
    /// connection's task holds them: the vendored monoio's timer entry is not
    /// padded to a cache line (ADR 28). With upstream's padding a `Sleep` is
    /// 128-aligned, which made each connection task a `posix_memalign`.
    #[test]
    fn timers_are_not_over_aligned() {
        let sleep = std::mem::align_of::<monoio::time::Sleep>();
        assert!(sleep <= 16, "monoio::time::Sleep is {sleep}-aligned");
        let size = std::mem::size_of::<monoio::time::Sleep>();
        assert!(size < 384, "monoio::time::Sleep is {size} bytes");
    }
}
