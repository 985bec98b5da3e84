//! An upstream connection's byte stream: plain TCP or TLS. It implements the
//! same owned-buffer I/O traits as a `TcpStream`, so the forwarding code is
//! written once for both.

pub mod tls;

use std::io;
use std::os::fd::AsRawFd;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;
use monoio::BufResult;
use shardgate_net::{peek_state, PeerState};

use self::tls::{TlsReadHalf, TlsStream, TlsWriteHalf};

pub enum UpStream {
    Plain(TcpStream),
    /// Boxed: the session and its buffers are large, and a plain connection
    /// should not pay for them.
    Tls(Box<TlsStream>),
}

impl UpStream {
    /// A pooled connection may take the next request: nothing arrived that
    /// no request asked for (inside the TLS layer, then on the socket), and
    /// the peer has not closed. `peek`: also ask the socket (one
    /// non-blocking `MSG_PEEK`); a caller that skips it for a connection
    /// idle for microseconds still gets the TLS layer's answer, which costs
    /// no system call.
    pub fn reusable(&self, peek: bool) -> bool {
        let fd = match self {
            UpStream::Plain(s) => s.as_raw_fd(),
            UpStream::Tls(s) if s.quiet() => s.as_raw_fd(),
            UpStream::Tls(_) => return false,
        };
        !peek || peek_state(fd) == PeerState::Idle
    }

    /// Read and write halves that work at the same time (an upgraded
    /// connection's tunnel).
    pub fn into_split(self) -> (UpRead, UpWrite) {
        match self {
            UpStream::Plain(s) => {
                let (r, w) = s.into_split();
                (UpRead::Plain(r), UpWrite::Plain(w))
            }
            UpStream::Tls(s) => {
                let (r, w) = s.into_split();
                (UpRead::Tls(r), UpWrite::Tls(w))
            }
        }
    }
}

impl AsyncReadRent for UpStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpStream::Plain(s) => s.read(buf).await,
            UpStream::Tls(s) => s.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpStream::Plain(s) => s.readv(buf).await,
            UpStream::Tls(s) => s.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for UpStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpStream::Plain(s) => s.write(buf).await,
            UpStream::Tls(s) => s.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpStream::Plain(s) => s.writev(buf).await,
            UpStream::Tls(s) => s.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            UpStream::Plain(s) => s.flush().await,
            UpStream::Tls(s) => s.flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            UpStream::Plain(s) => s.shutdown().await,
            UpStream::Tls(s) => s.shutdown().await,
        }
    }
}

pub enum UpRead {
    Plain(OwnedReadHalf<TcpStream>),
    Tls(TlsReadHalf),
}

pub enum UpWrite {
    Plain(OwnedWriteHalf<TcpStream>),
    Tls(TlsWriteHalf),
}

impl AsyncReadRent for UpRead {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpRead::Plain(s) => s.read(buf).await,
            UpRead::Tls(s) => s.read(buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpRead::Plain(s) => s.readv(buf).await,
            UpRead::Tls(s) => s.readv(buf).await,
        }
    }
}

impl AsyncWriteRent for UpWrite {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpWrite::Plain(s) => s.write(buf).await,
            UpWrite::Tls(s) => s.write(buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            UpWrite::Plain(s) => s.writev(buf).await,
            UpWrite::Tls(s) => s.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            UpWrite::Plain(s) => s.flush().await,
            UpWrite::Tls(s) => s.flush().await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            UpWrite::Plain(s) => s.shutdown().await,
            UpWrite::Tls(s) => s.shutdown().await,
        }
    }
}
