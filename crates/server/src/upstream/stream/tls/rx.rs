//! The receiving side of an upstream TLS connection: ciphertext read from
//! the socket into a buffer of our own, handed to rustls, plaintext copied
//! out to the caller's buffer.
//!
//! Keeping the ciphertext buffer here (rather than inside a wrapper crate)
//! is what lets a pooled connection say whether anything arrived that no
//! request asked for: unread plaintext, ciphertext not yet decrypted, or
//! part of a record (see [`Rx::quiet`]).

use std::cell::RefCell;
use std::io;

use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use monoio::BufResult;
use rustls::ClientConnection;

use crate::upstream::tls::TlsWatch;

/// One socket read: a whole TLS record (16 KiB of plaintext plus its
/// header and expansion) fits.
const READ_BUF: usize = 5 + (1 << 14) + 256;

pub(super) struct Rx {
    /// Ciphertext from the socket; `buf[pos..]` is not yet given to rustls.
    buf: Vec<u8>,
    pos: usize,
    records: Records,
    /// A socket read was dropped half-way: the bytes it took are lost, so
    /// nothing read from this connection can be trusted any more.
    cancelled: bool,
    watch: TlsWatch,
}

impl Rx {
    pub(super) fn new(watch: TlsWatch) -> Self {
        Rx {
            buf: Vec::with_capacity(READ_BUF),
            pos: 0,
            records: Records::default(),
            cancelled: false,
            watch,
        }
    }

    /// Reads plaintext into `buf` (one record's worth at most). `Ok(0)` is a
    /// clean close (`close_notify`); a TCP close without it is an
    /// `UnexpectedEof` error, as rustls reports a possible truncation.
    // The session stays borrowed across one await: `<&[u8]>::read` copies
    // before it returns its future, which is ready at once, so the task
    // never suspends there and no other task can find the session borrowed.
    #[allow(clippy::await_holding_refcell_ref)]
    pub(super) async fn read<R: AsyncReadRent, T: IoBufMut>(
        &mut self,
        tcp: &mut R,
        session: &RefCell<ClientConnection>,
        buf: T,
    ) -> BufResult<usize, T> {
        if self.cancelled {
            return (Err(cancelled()), buf);
        }
        loop {
            let mut s = session.borrow_mut();
            match s.reader().into_first_chunk() {
                Ok(chunk) => {
                    let mut src = chunk;
                    let (res, buf) = src.read(buf).await;
                    if let Ok(n) = res {
                        std::io::BufRead::consume(&mut s.reader(), n);
                    }
                    return (res, buf);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return (Err(e), buf),
            }
            drop(s);
            if self.consumed() {
                match self.fill(tcp).await {
                    Ok(_) => {}
                    Err(e) => return (Err(e), buf),
                }
            }
            if let Err(e) = self.feed(session) {
                return (Err(e), buf);
            }
        }
    }

    /// Reads from the socket into the (consumed) ciphertext buffer; 0 bytes
    /// is the peer's FIN, which [`Rx::feed`] passes on to rustls.
    pub(super) async fn fill<R: AsyncReadRent>(&mut self, tcp: &mut R) -> io::Result<usize> {
        self.buf.clear();
        self.pos = 0;
        self.cancelled = true;
        let (res, b) = tcp.read(std::mem::take(&mut self.buf)).await;
        self.buf = b;
        self.cancelled = false;
        res
    }

    /// Hands buffered ciphertext (or, when there is none, the end of the
    /// stream) to rustls and decrypts what it completes. A TLS error (a bad
    /// record, an alert from the server) is reported and ends the stream.
    pub(super) fn feed(&mut self, session: &RefCell<ClientConnection>) -> io::Result<()> {
        self.feed_tls(session).map_err(|e| {
            self.watch.failed(&e);
            io::Error::new(io::ErrorKind::InvalidData, e)
        })
    }

    /// As [`Rx::feed`], with the TLS error itself (the handshake reports it
    /// its own way).
    pub(super) fn feed_tls(
        &mut self,
        session: &RefCell<ClientConnection>,
    ) -> Result<(), rustls::Error> {
        let mut s = session.borrow_mut();
        let input = self.buf.get(self.pos..).unwrap_or_default();
        let mut rd = input;
        match s.read_tls(&mut rd) {
            // Nothing taken from a non-empty input: rustls saw the
            // `close_notify` already, and what follows it is ignored.
            Ok(0) if !input.is_empty() => self.pos = self.buf.len(),
            Ok(n) => {
                self.records.advance(input.get(..n).unwrap_or_default());
                self.pos += n;
            }
            Err(e) => return Err(rustls::Error::General(e.to_string())),
        }
        s.process_new_packets().map(|_| ())
    }

    /// All ciphertext read so far was handed to rustls.
    pub(super) fn consumed(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Nothing received that no request asked for: no plaintext waiting, no
    /// ciphertext left over, not inside a record. Also false after a
    /// cancelled read or a `close_notify`.
    pub(super) fn quiet(&self, session: &RefCell<ClientConnection>) -> bool {
        if self.cancelled || self.pos < self.buf.len() || !self.records.at_boundary() {
            return false;
        }
        let Ok(mut s) = session.try_borrow_mut() else {
            return false;
        };
        // WouldBlock: open and nothing decrypted. Anything else (data, a
        // clean or unclean close) means the connection is not idle.
        matches!(
            s.reader().into_first_chunk(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        )
    }
}

pub(super) fn cancelled() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "upstream tls stream unusable after a cancelled operation",
    )
}

/// Where the incoming byte stream is relative to TLS record boundaries
/// (a 5-byte header carrying the body's length, then the body).
#[derive(Default)]
struct Records {
    header: [u8; 5],
    /// Header bytes seen of the next record (0..5).
    have: usize,
    /// Body bytes still to come of the current record.
    left: usize,
}

impl Records {
    fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let k = self.left.min(bytes.len());
                self.left -= k;
                bytes = bytes.get(k..).unwrap_or_default();
                continue;
            }
            let k = (5 - self.have).min(bytes.len());
            if let (Some(dst), Some(src)) = (
                self.header.get_mut(self.have..self.have + k),
                bytes.get(..k),
            ) {
                dst.copy_from_slice(src);
            }
            self.have += k;
            bytes = bytes.get(k..).unwrap_or_default();
            if self.have == 5 {
                self.have = 0;
                self.left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.have == 0 && self.left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Records;

    fn record(len: u16) -> Vec<u8> {
        let mut r = vec![23, 3, 3];
        r.extend_from_slice(&len.to_be_bytes());
        r.extend(std::iter::repeat_n(0xAA, usize::from(len)));
        r
    }

    #[test]
    fn whole_records_in_any_split_end_on_a_boundary() {
        let mut bytes = record(3);
        bytes.extend(record(300));
        bytes.extend(record(0));
        for cut in 0..bytes.len() {
            let mut r = Records::default();
            r.advance(&bytes[..cut]);
            r.advance(&bytes[cut..]);
            assert!(r.at_boundary(), "cut at {cut}");
        }
    }

    #[test]
    fn a_partial_header_or_body_is_not_a_boundary() {
        let bytes = record(10);
        for end in 1..bytes.len() {
            let mut r = Records::default();
            r.advance(&bytes[..end]);
            assert!(!r.at_boundary(), "{end} of {} bytes", bytes.len());
        }
    }
}
