//! Blocking HTTP/1.1 message reading shared by the origin (requests) and the
//! client (responses). It is deliberately lenient in what it frames and strict
//! in what it reports: every byte that came off the wire is kept (`raw_*`), so
//! a test can compare exactly what the gateway sent.

use std::io::{self, Read};
use std::net::TcpStream;

use crate::error::{Error, Result};

/// Header fields in received order, names as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first field with this name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every field with this name, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether a comma-separated field (e.g. `Connection`) lists `token`.
    pub fn lists(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn from_httparse(h: &[httparse::Header<'_>]) -> Self {
        Headers(
            h.iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        )
    }
}

/// How a message body was delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body by the rules (HEAD, 1xx, 204, 304, request without length).
    None,
    Length(u64),
    Chunked,
    /// Read until the peer closed.
    Close,
}

/// A body as read: the decoded bytes, the wire bytes, and whether it ended
/// where its framing said it would (false: the peer closed early).
#[derive(Debug, Clone, Default)]
pub struct Body {
    pub data: Vec<u8>,
    pub raw: Vec<u8>,
    pub trailers: Headers,
    pub complete: bool,
}

/// A buffered reader over one socket. Bytes read past the end of a message
/// stay buffered for the next one (pipelining).
pub struct Reader<S = TcpStream> {
    stream: S,
    buf: Vec<u8>,
    pos: usize,
}

/// Heads larger than this are refused (the gateway's own limit is lower).
const MAX_HEAD: usize = 1 << 20;
const MAX_HEADERS: usize = 256;

impl<S: Read> Reader<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            pos: 0,
        }
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Takes what is buffered.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let n = self.buffered().len();
        self.consume(n)
    }

    /// Reads once more from the socket; 0 means the peer closed.
    pub fn fill(&mut self) -> Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn consume(&mut self, n: usize) -> Vec<u8> {
        let end = (self.pos + n).min(self.buf.len());
        let out = self.buf[self.pos..end].to_vec();
        self.pos = end;
        out
    }

    /// Reads until `complete` says how long the head is. `Ok(None)`: the peer
    /// closed before sending a byte (a clean end of a keep-alive connection).
    pub(crate) fn read_head(
        &mut self,
        complete: impl Fn(&[u8]) -> Result<Option<usize>>,
    ) -> Result<Option<Vec<u8>>> {
        loop {
            if let Some(n) = complete(self.buffered())? {
                return Ok(Some(self.consume(n)));
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(Error::Malformed("head larger than 1 MiB".into()));
            }
            if self.fill()? == 0 {
                return if self.buffered().is_empty() {
                    Ok(None)
                } else {
                    Err(Error::Malformed(format!(
                        "peer closed inside a head: {:?}",
                        String::from_utf8_lossy(self.buffered())
                    )))
                };
            }
        }
    }

    /// Up to `n` bytes; fewer only when the peer closed first.
    pub fn read_exact_or_eof(&mut self, n: u64) -> Result<Body> {
        let mut data = Vec::new();
        let mut left = n;
        while left > 0 {
            if self.buffered().is_empty() && self.fill()? == 0 {
                return Ok(Body {
                    raw: data.clone(),
                    data,
                    trailers: Headers::default(),
                    complete: false,
                });
            }
            let take = (self.buffered().len() as u64).min(left) as usize;
            data.extend(self.consume(take));
            left -= take as u64;
        }
        Ok(Body {
            raw: data.clone(),
            data,
            trailers: Headers::default(),
            complete: true,
        })
    }

    /// Everything until the peer closes.
    pub fn read_to_eof(&mut self) -> Result<Vec<u8>> {
        let mut data = self.consume(self.buffered().len());
        while self.fill()? > 0 {
            data.extend(self.consume(self.buffered().len()));
        }
        Ok(data)
    }

    /// One line including its line end, or what was left when the peer closed.
    fn read_line(&mut self) -> Result<(Vec<u8>, bool)> {
        loop {
            if let Some(i) = self.buffered().iter().position(|&b| b == b'\n') {
                return Ok((self.consume(i + 1), true));
            }
            if self.fill()? == 0 {
                let rest = self.buffered().len();
                return Ok((self.consume(rest), false));
            }
        }
    }

    /// A body in `framing`.
    pub fn read_body(&mut self, framing: Framing) -> Result<Body> {
        match framing {
            Framing::None => Ok(Body {
                complete: true,
                ..Body::default()
            }),
            Framing::Length(n) => self.read_exact_or_eof(n),
            Framing::Chunked => read_chunked(self),
            Framing::Close => {
                let data = self.read_to_eof()?;
                Ok(Body {
                    raw: data.clone(),
                    data,
                    trailers: Headers::default(),
                    complete: true,
                })
            }
        }
    }
}

/// A chunked body (RFC 9112 §7.1), keeping the exact wire bytes next to the
/// decoded data and trailers.
fn read_chunked<S: Read>(r: &mut Reader<S>) -> Result<Body> {
    let mut out = Body::default();
    loop {
        let (line, whole) = r.read_line()?;
        out.raw.extend_from_slice(&line);
        if !whole {
            return Ok(out);
        }
        let text = String::from_utf8_lossy(&line);
        let size_str = text.trim_end().split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_str, 16)
            .map_err(|_| Error::Malformed(format!("chunk size line {text:?}")))?;
        if size == 0 {
            return read_trailers(r, out);
        }
        let chunk = r.read_exact_or_eof(size)?;
        out.raw.extend_from_slice(&chunk.data);
        out.data.extend_from_slice(&chunk.data);
        if !chunk.complete {
            return Ok(out);
        }
        let (crlf, whole) = r.read_line()?;
        out.raw.extend_from_slice(&crlf);
        if !whole {
            return Ok(out);
        }
        if crlf != b"\r\n" {
            return Err(Error::Malformed(format!(
                "chunk not followed by CRLF: {crlf:?}"
            )));
        }
    }
}

fn read_trailers<S: Read>(r: &mut Reader<S>, mut out: Body) -> Result<Body> {
    loop {
        let (line, whole) = r.read_line()?;
        out.raw.extend_from_slice(&line);
        if !whole {
            return Ok(out);
        }
        if line == b"\r\n" || line == b"\n" {
            out.complete = true;
            return Ok(out);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| Error::Malformed(format!("trailer line {text:?}")))?;
        out.trailers
            .0
            .push((name.to_string(), value.trim().to_string()));
    }
}

/// `httparse` head completeness for requests.
pub(crate) fn request_head_len(data: &[u8]) -> Result<Option<usize>> {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut h);
    match req.parse(data) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(Error::Malformed(format!("request head: {e}"))),
    }
}

/// `httparse` head completeness for responses.
pub(crate) fn response_head_len(data: &[u8]) -> Result<Option<usize>> {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut h);
    match resp.parse(data) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(Error::Malformed(format!(
            "response head: {e}: {:?}",
            String::from_utf8_lossy(data)
        ))),
    }
}

pub(crate) const HEADER_SLOTS: usize = MAX_HEADERS;

/// Framing from `Transfer-Encoding` / `Content-Length`; `None` when neither.
pub(crate) fn declared_framing(headers: &Headers) -> Result<Option<Framing>> {
    if let Some(te) = headers.get("transfer-encoding") {
        if te.trim().eq_ignore_ascii_case("chunked") {
            return Ok(Some(Framing::Chunked));
        }
        return Err(Error::Malformed(format!("transfer-encoding {te:?}")));
    }
    if let Some(cl) = headers.get("content-length") {
        let n = cl
            .trim()
            .parse()
            .map_err(|_| Error::Malformed(format!("content-length {cl:?}")))?;
        return Ok(Some(Framing::Length(n)));
    }
    Ok(None)
}
