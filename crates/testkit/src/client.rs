//! A raw HTTP/1.1 client: exact bytes out, fully framed responses in. Used
//! where the bytes matter (smuggling, pipelining, truncation); `curl` covers
//! what ordinary users do.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::wire::{declared_framing, response_head_len, Framing, Headers, Reader, HEADER_SLOTS};

/// How long a read may wait unless a test says otherwise: long enough for a
/// loaded 2-core machine, short enough that a hang fails the test quickly.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// An interim (1xx) response that came before the final one.
#[derive(Debug, Clone)]
pub struct Interim {
    pub status: u16,
    pub headers: Headers,
}

/// A response as the client received it.
#[derive(Debug, Clone)]
pub struct Response {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    /// The decoded body.
    pub body: Vec<u8>,
    /// The body exactly as it came off the wire (chunk framing included).
    pub raw_body: Vec<u8>,
    pub trailers: Headers,
    pub interim: Vec<Interim>,
    pub framing: Framing,
    /// False when the connection ended before the body's framing did.
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the response announced that the connection closes after it.
    pub fn closes(&self) -> bool {
        self.headers.lists("connection", "close")
    }
}

pub struct Client {
    stream: TcpStream,
    reader: Reader,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, DEFAULT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        let mut c = Client {
            reader: Reader::new(stream.try_clone()?),
            stream,
        };
        c.set_timeout(DEFAULT_TIMEOUT)?;
        Ok(c)
    }

    /// Read and write timeout for everything that follows.
    pub fn set_timeout(&mut self, t: Duration) -> Result<()> {
        self.stream.set_read_timeout(Some(t))?;
        self.stream.set_write_timeout(Some(t))?;
        Ok(())
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.stream.local_addr()?)
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Half-closes: the gateway sees EOF on its read side.
    pub fn shutdown_write(&self) -> Result<()> {
        self.stream.shutdown(Shutdown::Write)?;
        Ok(())
    }

    /// Sends `bytes` and reads one response. A request starting with `HEAD `
    /// is read as such (no body).
    pub fn request(&mut self, bytes: &[u8]) -> Result<Response> {
        self.send(bytes)?;
        if bytes.starts_with(b"HEAD ") {
            self.response_to_head()
        } else {
            self.response()
        }
    }

    /// `GET path` with `Host: host` on this (kept-alive) connection.
    pub fn get(&mut self, host: &str, path: &str) -> Result<Response> {
        self.request(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
    }

    /// The next response to a request that was not HEAD.
    pub fn response(&mut self) -> Result<Response> {
        self.read_response(false)
    }

    pub fn response_to_head(&mut self) -> Result<Response> {
        self.read_response(true)
    }

    /// Only the next head, final or interim, with no body read (for
    /// `100 Continue` and `101 Switching Protocols`).
    pub fn head(&mut self) -> Result<Response> {
        read_head(&mut self.reader)
    }

    fn read_response(&mut self, to_head: bool) -> Result<Response> {
        read_response(&mut self.reader, to_head)
    }

    /// Raw bytes: whatever is buffered, else one read (empty = closed).
    pub fn read_some(&mut self) -> Result<Vec<u8>> {
        if self.reader.buffered().is_empty() && self.reader.fill()? == 0 {
            return Ok(Vec::new());
        }
        let n = self.reader.buffered().len();
        self.reader.read_exact_or_eof(n as u64).map(|b| b.data)
    }

    /// Exactly `n` raw bytes (fewer if the peer closed).
    pub fn read_exact(&mut self, n: usize) -> Result<Vec<u8>> {
        self.reader.read_exact_or_eof(n as u64).map(|b| b.data)
    }

    /// Everything until the gateway closes (the read timeout still applies).
    pub fn read_to_close(&mut self) -> Result<Vec<u8>> {
        self.reader.read_to_eof()
    }

    /// Succeeds once the gateway closes the connection (EOF or reset) within
    /// `within`; fails with `Timeout` if it stays open, `UnexpectedBytes` if it
    /// sends anything.
    pub fn wait_closed(&mut self, within: Duration) -> Result<()> {
        if !self.reader.buffered().is_empty() {
            return Err(unexpected(self.reader.buffered()));
        }
        let deadline = Instant::now() + within;
        let mut tmp = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            self.stream.set_read_timeout(Some(left))?;
            let r = (&self.stream).read(&mut tmp);
            self.stream.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
            match r {
                Ok(0) => return Ok(()),
                Ok(n) => return Err(unexpected(&tmp[..n])),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Succeeds when nothing at all (no byte, no close) arrives for `d`.
    pub fn expect_silence(&mut self, d: Duration) -> Result<()> {
        match self.wait_closed(d) {
            Err(Error::Timeout) => Ok(()),
            Ok(()) => Err(Error::Closed),
            Err(e) => Err(e),
        }
    }
}

fn unexpected(b: &[u8]) -> Error {
    Error::UnexpectedBytes(String::from_utf8_lossy(b).into_owned())
}

fn parse_head(raw: &[u8]) -> Result<Response> {
    let mut h = vec![httparse::EMPTY_HEADER; HEADER_SLOTS];
    let mut r = httparse::Response::new(&mut h);
    r.parse(raw)
        .map_err(|e| Error::Malformed(format!("response head: {e}")))?;
    Ok(Response {
        minor_version: r.version.unwrap_or(1),
        status: r.code.unwrap_or(0),
        reason: r.reason.unwrap_or("").to_string(),
        headers: Headers::from_httparse(r.headers),
        body: Vec::new(),
        raw_body: Vec::new(),
        trailers: Headers::default(),
        interim: Vec::new(),
        framing: Framing::None,
        complete: true,
    })
}

/// RFC 9112 §6.3, as a client applies it.
fn response_framing(resp: &Response, to_head: bool) -> Result<Framing> {
    if to_head || resp.status < 200 || resp.status == 204 || resp.status == 304 {
        return Ok(Framing::None);
    }
    Ok(declared_framing(&resp.headers)?.unwrap_or(Framing::Close))
}

/// The next head, final or interim, with no body read.
pub(crate) fn read_head<S: Read>(reader: &mut Reader<S>) -> Result<Response> {
    let raw = reader.read_head(response_head_len)?.ok_or(Error::Closed)?;
    parse_head(&raw)
}

/// The next complete response (interim responses collected on the way).
pub(crate) fn read_response<S: Read>(reader: &mut Reader<S>, to_head: bool) -> Result<Response> {
    let mut interim = Vec::new();
    loop {
        let mut resp = read_head(reader)?;
        if (100..200).contains(&resp.status) && resp.status != 101 {
            interim.push(Interim {
                status: resp.status,
                headers: resp.headers,
            });
            continue;
        }
        resp.framing = response_framing(&resp, to_head)?;
        let body = reader.read_body(resp.framing)?;
        resp.body = body.data;
        resp.raw_body = body.raw;
        resp.trailers = body.trailers;
        resp.complete = body.complete;
        resp.interim = interim;
        return Ok(resp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A peer that writes `bytes` to the first connection, then closes.
    fn peer(bytes: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(bytes).unwrap();
        });
        addr
    }

    #[test]
    fn reads_chunked_with_trailers_then_a_pipelined_response() {
        let mut c = Client::connect(peer(
            b"HTTP/1.1 103 Early Hints\r\nlink: x\r\n\r\n\
              HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nx-t: 1\r\n\r\n\
              HTTP/1.1 204 No Content\r\n\r\n\
              HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc",
        ))
        .unwrap();
        let r = c.response().unwrap();
        assert_eq!(r.interim.len(), 1);
        assert_eq!(
            (r.status, r.framing, r.complete),
            (200, Framing::Chunked, true)
        );
        assert_eq!(r.body, b"hello");
        assert_eq!(r.raw_body, b"5;ext=1\r\nhello\r\n0\r\nx-t: 1\r\n\r\n");
        assert_eq!(r.trailers.get("X-T"), Some("1"));
        let r = c.response().unwrap();
        assert_eq!((r.status, r.framing), (204, Framing::None));
        let r = c.response().unwrap();
        assert_eq!(r.body, b"abc");
        c.wait_closed(Duration::from_secs(2)).unwrap();
    }

    #[test]
    fn truncated_and_close_delimited_bodies() {
        let mut c =
            Client::connect(peer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")).unwrap();
        let r = c.response().unwrap();
        assert!(!r.complete);
        assert_eq!(r.body, b"abc");
        let mut c = Client::connect(peer(b"HTTP/1.0 200 OK\r\n\r\nuntil close")).unwrap();
        let r = c.response().unwrap();
        assert_eq!(
            (r.framing, r.complete, r.minor_version),
            (Framing::Close, true, 0)
        );
        assert_eq!(r.body, b"until close");
        let mut c = Client::connect(peer(b"")).unwrap();
        assert!(matches!(c.response(), Err(Error::Closed)));
    }

    #[test]
    fn silence_and_close_are_told_apart() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = Client::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        c.expect_silence(Duration::from_millis(50)).unwrap();
        assert!(matches!(
            c.wait_closed(Duration::from_millis(50)),
            Err(Error::Timeout)
        ));
        drop(s);
        c.wait_closed(Duration::from_secs(1)).unwrap();
    }
}
