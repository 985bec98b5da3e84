//! TLS to an upstream server over a monoio `TcpStream`, driven here on a
//! `rustls::ClientConnection` of our own (the listener side hands its
//! session to monoio-rustls, which keeps it private).
//!
//! A pooled connection must be checked for bytes nobody asked for before it
//! is reused; with TLS those can sit decrypted inside rustls or undecrypted
//! in a read buffer, where a `MSG_PEEK` on the socket cannot see them. Owning
//! the session and the buffers makes them visible ([`TlsStream::quiet`]).
//!
//! The session lives in an `Rc<RefCell<_>>`, borrowed only in synchronous
//! sections, so the two halves of a split stream (an upgraded connection's
//! tunnel) read and write at the same time. An operation dropped half-way
//! (a deadline) leaves its side unusable: later calls return an error
//! instead of sending or reading a broken record stream.

mod rx;
mod tx;

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut, IoVecWrapper, IoVecWrapperMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::ClientConnection;

use self::rx::Rx;
use self::tx::Tx;
use crate::upstream::tls::TlsWatch;

pub struct TlsStream {
    tcp: TcpStream,
    session: Rc<RefCell<ClientConnection>>,
    rx: Rx,
    tx: Tx,
}

/// Why a handshake failed: the connection (closed, reset) or TLS itself
/// (a certificate the server or we refused, a protocol error).
#[derive(Debug)]
pub enum HandshakeError {
    Io(io::Error),
    Tls(rustls::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Io(e) => write!(f, "connection failed during the handshake: {e}"),
            HandshakeError::Tls(e) => e.fmt(f),
        }
    }
}

impl TlsStream {
    /// Runs the client side of a handshake; the caller bounds it in time.
    pub async fn handshake(
        tcp: TcpStream,
        session: ClientConnection,
        watch: TlsWatch,
    ) -> Result<TlsStream, HandshakeError> {
        let mut s = TlsStream {
            tcp,
            session: Rc::new(RefCell::new(session)),
            rx: Rx::new(watch),
            tx: Tx::new(),
        };
        loop {
            // Our flight first (or the alert that explains a failure).
            s.tx.send(&mut s.tcp, &s.session)
                .await
                .map_err(HandshakeError::Io)?;
            if !s.session.borrow().is_handshaking() {
                return Ok(s);
            }
            if s.rx.consumed() {
                let n = s.rx.fill(&mut s.tcp).await.map_err(HandshakeError::Io)?;
                if n == 0 {
                    return Err(HandshakeError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
            }
            if let Err(e) = s.rx.feed_tls(&s.session) {
                let _ = s.tx.send(&mut s.tcp, &s.session).await;
                return Err(HandshakeError::Tls(e));
            }
        }
    }

    /// Whether the session was resumed (no certificate exchange).
    pub fn resumed(&self) -> bool {
        self.session.borrow().handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// Nothing has arrived since the last response was read: no plaintext,
    /// no ciphertext, no partial record (the socket itself is peeked by the
    /// caller).
    pub fn quiet(&self) -> bool {
        self.rx.quiet(&self.session)
    }

    pub fn into_split(self) -> (TlsReadHalf, TlsWriteHalf) {
        let (r, w) = self.tcp.into_split();
        (
            TlsReadHalf {
                tcp: r,
                session: self.session.clone(),
                rx: self.rx,
            },
            TlsWriteHalf {
                tcp: w,
                session: self.session,
                tx: self.tx,
            },
        )
    }
}

impl AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}

impl AsyncReadRent for TlsStream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        self.rx.read(&mut self.tcp, &self.session, buf).await
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match IoVecWrapperMut::new(buf) {
            Ok(one) => {
                let (res, one) = self.read(one).await;
                (res, one.into_inner())
            }
            Err(buf) => (Ok(0), buf),
        }
    }
}

impl AsyncWriteRent for TlsStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        self.tx.write(&mut self.tcp, &self.session, buf).await
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match IoVecWrapper::new(buf) {
            Ok(one) => {
                let (res, one) = self.write(one).await;
                (res, one.into_inner())
            }
            Err(buf) => (Ok(0), buf),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.tx.send(&mut self.tcp, &self.session).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.tx.shutdown(&mut self.tcp, &self.session).await
    }
}

/// The reading half of a split [`TlsStream`].
pub struct TlsReadHalf {
    tcp: OwnedReadHalf<TcpStream>,
    session: Rc<RefCell<ClientConnection>>,
    rx: Rx,
}

/// The writing half of a split [`TlsStream`].
pub struct TlsWriteHalf {
    tcp: OwnedWriteHalf<TcpStream>,
    session: Rc<RefCell<ClientConnection>>,
    tx: Tx,
}

impl AsyncReadRent for TlsReadHalf {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        self.rx.read(&mut self.tcp, &self.session, buf).await
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match IoVecWrapperMut::new(buf) {
            Ok(one) => {
                let (res, one) = self.read(one).await;
                (res, one.into_inner())
            }
            Err(buf) => (Ok(0), buf),
        }
    }
}

impl AsyncWriteRent for TlsWriteHalf {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        self.tx.write(&mut self.tcp, &self.session, buf).await
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match IoVecWrapper::new(buf) {
            Ok(one) => {
                let (res, one) = self.write(one).await;
                (res, one.into_inner())
            }
            Err(buf) => (Ok(0), buf),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.tx.send(&mut self.tcp, &self.session).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.tx.shutdown(&mut self.tcp, &self.session).await
    }
}

#[cfg(test)]
mod tests;
