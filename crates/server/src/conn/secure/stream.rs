//! The server side of a TLS connection: a rustls session over a TCP stream,
//! with record buffers lent by the shard's pool only while bytes move.
//!
//! Written here instead of using monoio-rustls (ADR 20): that stream owns two
//! 16 KiB record buffers for the whole life of a connection and keeps its
//! session private, so an idle TLS connection cost ≈38 KB and could not be
//! parked. Here a read borrows a buffer for the ciphertext and gives it back
//! once rustls has taken every byte; a write borrows one for the records and
//! gives it back when they are sent. Between requests the stream holds no
//! buffer, and [`TlsStream::into_parts`] hands out the bare session to park.
//!
//! Cancellation: like every monoio stream, a dropped operation takes its
//! buffer with it and leaves the stream in an unknown state; `Guarded` (the
//! caller's wrapper) marks such a stream unusable.

use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::ServerConnection;
use shardgate_net::{first_iovec, init_bytes, put, put_first_iovec};

use crate::buffers::BufferPool;
use crate::conn::wait::Hot;
use crate::event::LocalEvent;

/// rustls refuses more ciphertext once this much plaintext waits to be
/// read (its `received_plaintext` limit, 16 KiB); feeding stops here.
const PLAINTEXT_LIMIT: usize = 16 * 1024;

/// ECANCELED: a cancelled read that got no byte.
const ECANCELED: i32 = 125;

pub struct TlsStream {
    tcp: TcpStream,
    session: Box<ServerConnection>,
    pool: Rc<BufferPool>,
    /// Ciphertext read from the socket and not yet taken by the session:
    /// `cipher[cpos..]`. A pooled buffer only while such bytes wait.
    cipher: Vec<u8>,
    cpos: usize,
    /// Plaintext the session holds that has not been read.
    plain: usize,
    /// The peer sent `close_notify`: reads return 0.
    closed: bool,
    /// The socket reached end of file without a `close_notify`.
    eof: bool,
}

impl TlsStream {
    pub fn new(tcp: TcpStream, session: Box<ServerConnection>, pool: Rc<BufferPool>) -> Self {
        Self {
            tcp,
            session,
            pool,
            cipher: Vec::new(),
            cpos: 0,
            plain: 0,
            closed: false,
            eof: false,
        }
    }

    /// Nothing waits in this stream: no ciphertext, no plaintext, nothing to
    /// send. Only then may its session be parked (the socket's readiness is
    /// then the only sign of a next request).
    pub fn is_quiet(&self) -> bool {
        self.cpos >= self.cipher.len()
            && self.plain == 0
            && !self.closed
            && !self.eof
            && !self.session.wants_write()
    }

    /// Bytes (or an end) wait to be read without touching the socket.
    fn has_input(&self) -> bool {
        self.cpos < self.cipher.len() || self.plain > 0 || self.closed || self.eof
    }

    pub fn as_tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The socket and the session, to park (see [`Self::is_quiet`]).
    pub fn into_parts(mut self) -> (TcpStream, Box<ServerConnection>) {
        self.release();
        (self.tcp, self.session)
    }

    /// Turns this stream into monoio-rustls's (for a tunnel after `101`):
    /// plaintext and ciphertext waiting here are decrypted into `pending`
    /// first, so nothing the client sent is lost.
    pub fn into_tunnel(
        mut self,
        pending: &mut Vec<u8>,
    ) -> io::Result<monoio_rustls::ServerTlsStream<TcpStream>> {
        loop {
            if self.plain > 0 {
                let n = self.session.reader().read_to_end(pending);
                match n {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
                    Err(e) => return Err(e),
                }
                self.plain = 0;
            }
            if self.cpos >= self.cipher.len() {
                break;
            }
            self.feed()?;
        }
        self.release();
        Ok(monoio_rustls::ServerTlsStream::new(self.tcp, *self.session))
    }

    fn release(&mut self) {
        self.cpos = 0;
        if self.cipher.capacity() > 0 {
            self.pool.give(std::mem::take(&mut self.cipher));
        }
    }

    /// Gives the session the waiting ciphertext, as much as it takes.
    fn feed(&mut self) -> io::Result<()> {
        while self.cpos < self.cipher.len() && self.plain <= PLAINTEXT_LIMIT && !self.closed {
            let mut rest = self.cipher.get(self.cpos..).unwrap_or_default();
            let n = self.session.read_tls(&mut rest)?;
            if n == 0 {
                // rustls takes none only after `close_notify` (handled by
                // the loop's condition); anything else would spin.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "tls session took no bytes",
                ));
            }
            self.cpos += n;
            self.process()?;
        }
        if self.cpos >= self.cipher.len() || self.closed {
            self.release();
        }
        Ok(())
    }

    fn process(&mut self) -> io::Result<()> {
        let state = self
            .session
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.plain = state.plaintext_bytes_to_read();
        self.closed |= state.peer_has_closed();
        Ok(())
    }

    /// Reads once from the socket and feeds what came.
    async fn read_socket(&mut self) -> io::Result<()> {
        self.release();
        let (res, buf) = self.tcp.read(self.pool.take()).await;
        self.cipher = buf;
        match res {
            Ok(0) => {
                self.release();
                self.eof = true;
                Ok(())
            }
            Ok(_) => self.feed(),
            Err(e) => {
                self.release();
                Err(e)
            }
        }
    }

    /// A protocol error: rustls queued an alert; try to send it before the
    /// connection closes (best effort: the caller closes either way).
    async fn alert(&mut self) {
        let _ = self.send_pending().await;
    }

    /// Waits up to `window` for the client's next bytes with a cancellable
    /// read, as cleartext connections do (see `conn::wait::hot`): `Cold`
    /// means the window passed with nothing, no buffer is held, and the
    /// session may be parked.
    pub async fn hot(
        &mut self,
        window: Duration,
        drain: &LocalEvent,
        canceller: &mut Option<Canceller>,
    ) -> Hot {
        if self.has_input() {
            return Hot::Data;
        }
        self.release();
        let handle = canceller.get_or_insert_with(Canceller::new).handle();
        let (res, buf) = {
            let mut read = std::pin::pin!(self.tcp.cancelable_read(self.pool.take(), handle));
            let finished = monoio::select! {
                r = &mut read => Some(r),
                _ = monoio::time::sleep(window) => None,
                _ = drain.wait() => None,
            };
            match finished {
                Some(r) => r,
                None => {
                    // The cancel hands back the buffer and any bytes that
                    // raced it, so nothing is lost.
                    if let Some(c) = canceller.take() {
                        *canceller = Some(c.cancel());
                    }
                    read.await
                }
            }
        };
        self.cipher = buf;
        match res {
            Ok(0) => {
                self.release();
                self.eof = true;
                Hot::Closed
            }
            Ok(_) => match self.feed() {
                Ok(()) => Hot::Data,
                Err(_) => {
                    self.alert().await;
                    Hot::Closed
                }
            },
            Err(e) => {
                self.release();
                if e.raw_os_error() == Some(ECANCELED) {
                    Hot::Cold
                } else {
                    Hot::Closed
                }
            }
        }
    }

    /// Sends every record the session has queued.
    async fn send_pending(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            let mut out = self.pool.take();
            if let Err(e) = self.session.write_tls(&mut Room(&mut out)) {
                self.pool.give(out);
                return Err(e);
            }
            let (res, out) = self.tcp.write_all(out).await;
            self.pool.give(out);
            res?;
        }
        Ok(())
    }

    /// Makes plaintext available (or an end): `Ok(true)` when there is some.
    async fn want_plaintext(&mut self) -> io::Result<bool> {
        loop {
            if self.plain > 0 {
                return Ok(true);
            }
            if self.closed {
                return Ok(false);
            }
            if self.eof {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let fed = if self.cpos < self.cipher.len() {
                self.feed()
            } else {
                self.read_socket().await
            };
            if let Err(e) = fed {
                if e.kind() == io::ErrorKind::InvalidData {
                    self.alert().await;
                }
                return Err(e);
            }
        }
    }

    /// Copies waiting plaintext into `buf` (without a copy inside rustls:
    /// its first decrypted chunk is read in place).
    fn take_plaintext(&mut self, put: impl FnOnce(&[u8]) -> usize) -> io::Result<usize> {
        let reader = self.session.reader();
        let n = match reader.into_first_chunk() {
            Ok(chunk) => put(chunk),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.plain = 0;
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        io::BufRead::consume(&mut self.session.reader(), n);
        self.plain = self.plain.saturating_sub(n);
        Ok(n)
    }
}

/// A writer that takes only what fits in a pooled buffer's capacity, so the
/// buffer never grows (the pool would refuse it back).
struct Room<'a>(&'a mut Vec<u8>);

impl Write for Room<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(self.0.capacity() - self.0.len());
        self.0.extend_from_slice(bytes.get(..n).unwrap_or_default());
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for b in bufs {
            let n = self.write(b)?;
            total += n;
            if n < b.len() {
                break;
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncReadRent for TlsStream {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        loop {
            match self.want_plaintext().await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
            match self.take_plaintext(|chunk| put(&mut buf, chunk)) {
                // Zero with plaintext promised: the session had none after
                // all (its count was stale); look again.
                Ok(0) if self.plain == 0 => continue,
                r => return (r, buf),
            }
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        loop {
            match self.want_plaintext().await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
            match self.take_plaintext(|chunk| put_first_iovec(&mut buf, chunk)) {
                Ok(0) if self.plain == 0 => continue,
                r => return (r, buf),
            }
        }
    }
}

impl AsyncWriteRent for TlsStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // The bytes are encrypted into the session before any await, so the
        // borrow of `buf` ends here.
        let queued = self.session.writer().write(init_bytes(&buf));
        let r = match queued {
            Ok(n) => self.send_pending().await.map(|()| n),
            Err(e) => Err(e),
        };
        (r, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let queued = self.session.writer().write(first_iovec(&buf));
        let r = match queued {
            Ok(n) => self.send_pending().await.map(|()| n),
            Err(e) => Err(e),
        };
        (r, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.send_pending().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.session.send_close_notify();
        self.send_pending().await?;
        self.tcp.shutdown().await
    }
}
