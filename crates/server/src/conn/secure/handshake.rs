//! The TLS handshake, driven here instead of by monoio-rustls.
//!
//! The handshake runs on a `rustls::ServerConnection` of our own, reading
//! whole TLS records (the 5-byte header, then exactly the record): nothing
//! past the client's last handshake record is taken from the socket, so the
//! session moves into the connection's [`super::stream::TlsStream`] without a
//! byte left behind in a handshake buffer, and the access log gets the
//! negotiated version and the client's SNI name. The cost is two reads per
//! record (three or four records per handshake), against a handshake's
//! ~100 µs of cryptography.

use std::io;
use std::sync::Arc;

use monoio::buf::{IoBufMut, SliceMut};
use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

/// The longest TLS record: a 5-byte header and up to 2^14 + 2048 bytes
/// (RFC 8446 §5.2; TLS 1.2 allows the larger expansion).
const MAX_RECORD: usize = 5 + (1 << 14) + 2048;

/// What the access log records of a TLS connection.
pub struct TlsInfo {
    /// `"TLSv1.3"` or `"TLSv1.2"`.
    pub version: &'static str,
    /// The name the client sent in SNI, if any.
    pub sni: Option<Box<str>>,
}

/// A finished handshake: the socket, the session and what the log records.
pub type Handshaken = (TcpStream, Box<ServerConnection>, TlsInfo);

/// Runs the server side of a handshake over `tcp`; the caller bounds it in time.
pub async fn handshake(mut tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<Handshaken> {
    // Boxed once here: the session moves into the stream and, when the
    // connection idles, into its parked slot, as a pointer.
    let mut session = Box::new(ServerConnection::new(config).map_err(io::Error::other)?);
    let mut out = Vec::with_capacity(4096);
    let mut record = Vec::with_capacity(MAX_RECORD);
    loop {
        // Whatever rustls wants to send goes first: its flight, or an alert.
        flush(&mut session, &mut tcp, &mut out).await?;
        if !session.is_handshaking() {
            break;
        }
        read_record(&mut tcp, &mut record).await?;
        let mut rest = record.as_slice();
        while !rest.is_empty() {
            if session.read_tls(&mut rest)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "tls record not taken",
                ));
            }
        }
        if let Err(e) = session.process_new_packets() {
            // Tell the client why (the alert is queued), then give up.
            let _ = flush(&mut session, &mut tcp, &mut out).await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
    let info = TlsInfo {
        version: match session.protocol_version() {
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLSv1.3",
        },
        sni: session.server_name().map(Box::from),
    };
    Ok((tcp, session, info))
}

async fn flush(
    session: &mut ServerConnection,
    tcp: &mut TcpStream,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    while session.wants_write() {
        out.clear();
        session.write_tls(out)?;
        let (res, buf) = tcp.write_all(std::mem::take(out)).await;
        *out = buf;
        res?;
    }
    Ok(())
}

/// Reads exactly one TLS record (header and body) into `record`.
async fn read_record(tcp: &mut TcpStream, record: &mut Vec<u8>) -> io::Result<()> {
    record.clear();
    read_exact(tcp, record, 5).await?;
    let len = usize::from(u16::from_be_bytes([
        record.get(3).copied().unwrap_or(0),
        record.get(4).copied().unwrap_or(0),
    ]));
    if len == 0 || 5 + len > MAX_RECORD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad tls record length",
        ));
    }
    read_exact(tcp, record, len).await
}

/// Appends exactly `n` bytes from `tcp` to `buf` (which has the room).
async fn read_exact(tcp: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> io::Result<()> {
    let from = buf.len();
    let slice: SliceMut<Vec<u8>> = std::mem::take(buf).slice_mut(from..from + n);
    let (res, slice) = tcp.read_exact(slice).await;
    *buf = slice.into_inner();
    res.map(|_| ())
}
