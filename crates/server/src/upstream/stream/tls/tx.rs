//! The sending side of an upstream TLS connection: plaintext handed to
//! rustls, the records it makes written to the socket before the write
//! returns.

use std::cell::RefCell;
use std::io;

use monoio::buf::{IoBuf, IoVecBuf};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, BufWriter};
use monoio::BufResult;
use rustls::ClientConnection;

use super::rx::cancelled;

/// Plaintext taken per write: one full TLS record.
const STAGE: usize = 1 << 14;

pub(super) struct Tx {
    /// Ciphertext on its way to the socket.
    out: Vec<u8>,
    /// The caller's bytes are copied here so rustls can read them: monoio
    /// hands a write any owned buffer type, and this crate has no `unsafe`
    /// to look into one (`BufWriter` does the copy for us).
    stage: BufWriter<Discard>,
    /// A socket write was dropped half-way: part of a record may be lost,
    /// so nothing more may be written.
    cancelled: bool,
}

impl Tx {
    pub(super) fn new() -> Self {
        Tx {
            out: Vec::new(),
            stage: BufWriter::with_capacity(STAGE, Discard),
            cancelled: false,
        }
    }

    /// Encrypts up to one record of `buf` and sends it.
    pub(super) async fn write<W: AsyncWriteRent, T: IoBuf>(
        &mut self,
        tcp: &mut W,
        session: &RefCell<ClientConnection>,
        buf: T,
    ) -> BufResult<usize, T> {
        if self.cancelled {
            return (Err(cancelled()), buf);
        }
        let n = buf.bytes_init().min(STAGE);
        if n == 0 {
            return (Ok(0), buf);
        }
        // The stage is empty and `n` fits: this copies and does no I/O.
        let (res, piece) = self.stage.write(buf.slice(..n)).await;
        let buf = piece.into_inner();
        if let Err(e) = res {
            return (Err(e), buf);
        }
        let taken = {
            let mut s = session.borrow_mut();
            io::Write::write(&mut s.writer(), self.stage.buffer())
        };
        // Empties the stage (into `Discard`, no I/O).
        if let Err(e) = self.stage.flush().await {
            return (Err(e), buf);
        }
        let sent = self.send(tcp, session).await;
        match (taken, sent) {
            (Ok(k), Ok(())) => (Ok(k), buf),
            (Err(e), _) | (_, Err(e)) => (Err(e), buf),
        }
    }

    /// Writes whatever rustls has queued (records, alerts) to the socket.
    pub(super) async fn send<W: AsyncWriteRent>(
        &mut self,
        tcp: &mut W,
        session: &RefCell<ClientConnection>,
    ) -> io::Result<()> {
        if self.cancelled {
            return Err(cancelled());
        }
        loop {
            self.out.clear();
            {
                let mut s = session.borrow_mut();
                if !s.wants_write() {
                    return Ok(());
                }
                s.write_tls(&mut self.out)?;
            }
            self.cancelled = true;
            let (res, b) = tcp.write_all(std::mem::take(&mut self.out)).await;
            self.out = b;
            self.cancelled = false;
            res?;
        }
    }

    /// Sends `close_notify`, then half-closes the socket.
    pub(super) async fn shutdown<W: AsyncWriteRent>(
        &mut self,
        tcp: &mut W,
        session: &RefCell<ClientConnection>,
    ) -> io::Result<()> {
        session.borrow_mut().send_close_notify();
        self.send(tcp, session).await?;
        tcp.shutdown().await
    }
}

/// Where the stage empties to: accepts everything and keeps nothing. Only
/// `BufWriter::flush` writes to it, with its own buffer.
struct Discard;

impl AsyncWriteRent for Discard {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        (Ok(buf.bytes_init()), buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match monoio::buf::IoVecWrapper::new(buf) {
            Ok(one) => {
                let n = one.bytes_init();
                (Ok(n), one.into_inner())
            }
            Err(buf) => (Ok(0), buf),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}
