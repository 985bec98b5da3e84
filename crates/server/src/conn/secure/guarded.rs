//! A TLS stream that refuses to be used after one of its operations was
//! dropped half-way.
//!
//! monoio-rustls moves its record buffer into each socket operation; when a
//! deadline drops that operation the buffer goes with it, and the next call on
//! the stream panics. Every timeout here drops operations (and then writes a
//! 408, or a `close_notify`), so each operation arms a guard that marks the
//! stream broken if the operation does not finish; later calls return an error
//! instead of reaching the stream. Both halves of a split stream share the
//! mark: a read can write (a TLS alert), so a dropped read spoils writes too.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::BufResult;

pub struct Guarded<T> {
    inner: T,
    broken: Rc<Cell<bool>>,
}

/// Marks the stream broken unless disarmed (the operation completed).
struct Arm<'a>(&'a Cell<bool>, bool);

impl Drop for Arm<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.set(true);
        }
    }
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "tls stream unusable after a cancelled operation",
    )
}

impl<T> Guarded<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            broken: Rc::new(Cell::new(false)),
        }
    }

    /// Wraps another part of the same stream (a split half): it shares the mark.
    pub fn sibling<U>(&self, inner: U) -> Guarded<U> {
        Guarded {
            inner,
            broken: self.broken.clone(),
        }
    }

    /// The stream itself, for an operation that is cancel-safe on its own
    /// (the TLS hot window: its cancelled read hands back buffer and bytes);
    /// None when an operation on it was cancelled.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        (!self.broken.get()).then_some(&mut self.inner)
    }

    #[cfg(test)]
    pub fn is_broken(&self) -> bool {
        self.broken.get()
    }

    /// The stream itself, or None when an operation on it was cancelled.
    pub fn into_inner(self) -> Option<T> {
        (!self.broken.get()).then_some(self.inner)
    }
}

/// Runs one operation of the stream, marking it broken if the operation is
/// dropped before it completes.
async fn guard<F: std::future::Future>(broken: Rc<Cell<bool>>, op: F) -> F::Output {
    let mut arm = Arm(&broken, true);
    let r = op.await;
    arm.1 = false;
    r
}

/// TLS records are no bytes to splice: the default `tcp()` (None); the
/// socket under them still takes a reset at close.
impl super::super::io::Io for Guarded<super::stream::TlsStream> {
    fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self.inner.as_tcp()))
    }
}

impl<T: AsyncReadRent> AsyncReadRent for Guarded<T> {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        if self.broken.get() {
            return (Err(broken()), buf);
        }
        guard(self.broken.clone(), self.inner.read(buf)).await
    }

    async fn readv<B: IoVecBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        if self.broken.get() {
            return (Err(broken()), buf);
        }
        guard(self.broken.clone(), self.inner.readv(buf)).await
    }
}

impl<T: AsyncWriteRent> AsyncWriteRent for Guarded<T> {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        if self.broken.get() {
            return (Err(broken()), buf);
        }
        guard(self.broken.clone(), self.inner.write(buf)).await
    }

    async fn writev<B: IoVecBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        if self.broken.get() {
            return (Err(broken()), buf);
        }
        guard(self.broken.clone(), self.inner.writev(buf)).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.broken.get() {
            return Err(broken());
        }
        guard(self.broken.clone(), self.inner.flush()).await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        if self.broken.get() {
            return Err(broken());
        }
        guard(self.broken.clone(), self.inner.shutdown()).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use monoio::io::AsyncReadRentExt;
    use monoio::net::{TcpListener, TcpStream};

    use super::*;

    #[monoio::test(enable_timer = true)]
    async fn a_dropped_read_breaks_both_halves() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (_server, _) = listener.accept().await.unwrap();
        let mut g = Guarded::new(client);
        // Nothing arrives: the deadline drops the read half-way.
        let r = monoio::time::timeout(Duration::from_millis(20), g.read(vec![0u8; 16])).await;
        assert!(r.is_err(), "the read should have timed out");
        assert!(g.is_broken());
        let (res, _) = g.read_exact(vec![0u8; 1]).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let (res, _) = g.write(b"x".to_vec()).await;
        assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let sib = g.sibling(());
        assert!(sib.is_broken());
        assert!(g.into_inner().is_none());
    }

    #[monoio::test(enable_timer = true)]
    async fn completed_operations_leave_it_usable() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut g = Guarded::new(client);
        let mut s = Guarded::new(server);
        let (res, _) = g.write(b"ping".to_vec()).await;
        assert_eq!(res.unwrap(), 4);
        let (res, buf) = s.read_exact(vec![0u8; 4]).await;
        res.unwrap();
        assert_eq!(buf, b"ping");
        assert!(!g.is_broken() && !s.is_broken());
        assert!(g.into_inner().is_some());
    }
}
