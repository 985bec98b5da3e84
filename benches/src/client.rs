//! A blocking HTTP/1.1 client that allocates nothing per request.
//!
//! It owns one read buffer, sized at connect time, and parses responses with
//! httparse into a stack array of headers. Bodies are framed by
//! `Content-Length` (the gateway frames static and error responses that way,
//! and the test origin does too) or chunked, which is checked by
//! `shardgate_http`'s decoder and handed back as it came, framing and
//! trailers included. Responses borrow the read buffer.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest response (head + body) a client accepts.
const BUF: usize = 16 * 1024;
/// No request in a test should take this long; a hang fails instead.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A complete response, borrowing the client's buffer.
#[derive(Debug)]
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        Client::connect_with_buffer(addr, vec![0; BUF])
    }

    /// Connects reusing a buffer from [`Client::into_buffer`], so that opening
    /// a connection allocates nothing either (`buf` is grown to the working
    /// size if it is smaller).
    pub fn connect_with_buffer(addr: SocketAddr, mut buf: Vec<u8>) -> io::Result<Client> {
        if buf.len() < BUF {
            buf.resize(BUF, 0);
        }
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        Ok(Client { stream, buf })
    }

    /// Closes the connection and hands back the read buffer for the next one.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Sends `request` (one complete head, no body) and reads one response.
    /// Bytes after the response are an error: nothing here pipelines.
    pub fn request(&mut self, request: &[u8]) -> io::Result<Response<'_>> {
        self.stream.write_all(request)?;
        let mut len = 0;
        let (status, head_len, framing) = loop {
            len += self.read_more(len)?;
            if let Some(head) = parse_head(self.buf.get(..len).unwrap_or_default())? {
                break head;
            }
        };
        let total = match framing {
            Framing::Length(body_len) => {
                let total = head_len + body_len;
                if total > self.buf.len() {
                    return Err(invalid("response larger than the client buffer"));
                }
                if len < total {
                    let rest = self.buf.get_mut(len..total).unwrap_or_default();
                    self.stream.read_exact(rest)?;
                    len = total;
                }
                total
            }
            Framing::Chunked => {
                let mut dec = shardgate_http::ChunkedDecoder::new();
                let mut fed = head_len;
                loop {
                    let f = dec
                        .feed(self.buf.get(fed..len).unwrap_or_default())
                        .map_err(|_| invalid("malformed chunked body"))?;
                    fed += f.consumed;
                    if f.done {
                        break fed;
                    }
                    len += self.read_more(len)?;
                }
            }
        };
        if len > total {
            return Err(invalid("bytes after the response"));
        }
        Ok(Response {
            status,
            body: self.buf.get(head_len..total).unwrap_or_default(),
        })
    }

    /// Sends `request` and reads one response whose body ends with the
    /// connection (an HTTP/1.0 client's, say): the whole buffer up to EOF.
    pub fn request_to_close(&mut self, request: &[u8]) -> io::Result<Response<'_>> {
        self.stream.write_all(request)?;
        let mut len = 0;
        loop {
            match self.read_more(len) {
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
        let all = self.buf.get(..len).unwrap_or_default();
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(all) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return Err(invalid("malformed or cut response head")),
        };
        let status = resp.code.ok_or_else(|| invalid("no status"))?;
        Ok(Response {
            status,
            body: all.get(head_len..).unwrap_or_default(),
        })
    }

    /// One read into `buf[len..]`; EOF or a full buffer is an error.
    fn read_more(&mut self, len: usize) -> io::Result<usize> {
        let free = self
            .buf
            .get_mut(len..)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| invalid("response larger than the client buffer"))?;
        match self.stream.read(free)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => Ok(n),
        }
    }

    /// Waits until the server closes the connection (after `Connection: close`);
    /// any byte that arrives first is an error.
    pub fn expect_close(&mut self) -> io::Result<()> {
        match self.stream.read(self.buf.as_mut_slice())? {
            0 => Ok(()),
            _ => Err(invalid("data after the last response")),
        }
    }
}

/// How a response body is framed.
enum Framing {
    Length(usize),
    Chunked,
}

/// `(status, head length, framing)` once the head is complete.
fn parse_head(buf: &[u8]) -> io::Result<Option<(u16, usize, Framing)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(invalid("malformed response head")),
    };
    let status = resp.code.ok_or_else(|| invalid("no status"))?;
    let field = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if field("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked")) {
        return Ok(Some((status, head_len, Framing::Chunked)));
    }
    let length =
        field("content-length").ok_or_else(|| invalid("response without content-length"))?;
    let body_len = std::str::from_utf8(length)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| invalid("bad content-length"))?;
    Ok(Some((status, head_len, Framing::Length(body_len))))
}

/// Only on failure paths, where allocating the message does not matter.
fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Origin;

    #[test]
    fn reads_framed_responses_on_one_connection() {
        let origin =
            Origin::start(b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\nx: y\r\n\r\nhello")
                .unwrap();
        let mut c = Client::connect(origin.addr()).unwrap();
        for _ in 0..3 {
            let r = c.request(b"GET / HTTP/1.1\r\nHost: o\r\n\r\n").unwrap();
            assert_eq!(r.status, 201);
            assert_eq!(r.body, b"hello");
        }
        assert_eq!(origin.served(), 3);
    }

    #[test]
    fn reads_chunked_responses_as_they_came() {
        let origin = Origin::start(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-a: 1\r\n\r\n",
        )
        .unwrap();
        let mut c = Client::connect(origin.addr()).unwrap();
        for _ in 0..2 {
            let r = c.request(b"GET / HTTP/1.1\r\nHost: o\r\n\r\n").unwrap();
            assert_eq!(r.body, b"2\r\nok\r\n0\r\nx-a: 1\r\n\r\n");
        }
    }

    #[test]
    fn reads_a_response_that_ends_with_the_connection() {
        // The test origin keeps connections open: one that answers once
        // and closes, as an HTTP/1.0 server does.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = [0u8; 256];
            let _ = s.read(&mut req).unwrap();
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
        });
        let mut c = Client::connect(addr).unwrap();
        let r = c.request_to_close(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body), (200, &b"until close"[..]));
        server.join().unwrap();
    }

    #[test]
    fn rejects_unframed_and_oversized_responses() {
        let origin = Origin::start(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        let mut c = Client::connect(origin.addr()).unwrap();
        let e = c.request(b"GET / HTTP/1.1\r\nHost: o\r\n\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let origin = Origin::start(b"HTTP/1.1 200 OK\r\ncontent-length: 99999\r\n\r\n").unwrap();
        let mut c = Client::connect(origin.addr()).unwrap();
        let e = c.request(b"GET / HTTP/1.1\r\nHost: o\r\n\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
