//! Canned origin behaviours. Each returns a [`Handler`]; tests combine them
//! with their own closures (e.g. by request path).

use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{handler, After, Handler, Request};

/// A complete response with `Content-Length`. `headers` are written as given.
pub fn response_bytes(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    if !(status < 200 || status == 204 || status == 304) {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// Always the same response, connection kept alive.
pub fn fixed(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Handler {
    let bytes = response_bytes(status, headers, body);
    handler(move |_, r| {
        r.write(&bytes)?;
        Ok(After::KeepAlive)
    })
}

/// A `200` with `Content-Length` whose body is the given bytes.
pub fn content_length(body: Vec<u8>) -> Handler {
    handler(move |_, r| {
        r.write(&response_bytes(
            200,
            &[("content-type", "application/octet-stream")],
            &body,
        ))?;
        Ok(After::KeepAlive)
    })
}

/// Echoes the request: the body is `METHOD TARGET\n`, one `name: value\n` per
/// header as received, an empty line, then the request body. Also sets
/// `x-echo-method` and `x-echo-target`.
pub fn echo() -> Handler {
    handler(|req, r| {
        r.write(&response_bytes(
            200,
            &[
                ("content-type", "text/plain"),
                ("x-echo-method", &req.method),
                ("x-echo-target", &req.target),
            ],
            &echo_body(req),
        ))?;
        Ok(After::KeepAlive)
    })
}

pub fn echo_body(req: &Request) -> Vec<u8> {
    let mut b = format!("{} {}\n", req.method, req.target).into_bytes();
    for (n, v) in &req.headers.0 {
        b.extend_from_slice(format!("{n}: {v}\n").as_bytes());
    }
    b.push(b'\n');
    b.extend_from_slice(&req.body);
    b
}

/// A chunked `200` with these chunks and trailer fields.
pub fn chunked(chunks: Vec<Vec<u8>>, trailers: Vec<(String, String)>) -> Handler {
    handler(move |_, r| {
        let mut out =
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n"
                .to_vec();
        if !trailers.is_empty() {
            let names: Vec<&str> = trailers.iter().map(|(n, _)| n.as_str()).collect();
            out.extend_from_slice(format!("trailer: {}\r\n", names.join(", ")).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        for c in &chunks {
            out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        for (n, v) in &trailers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        r.write(&out)?;
        Ok(After::KeepAlive)
    })
}

/// No length at all: the body ends when the origin closes. `version` is
/// `"HTTP/1.1"` or `"HTTP/1.0"`.
pub fn close_delimited(version: &'static str, body: Vec<u8>) -> Handler {
    handler(move |_, r| {
        let mut out = format!("{version} 200 OK\r\ncontent-type: text/plain\r\n\r\n").into_bytes();
        out.extend_from_slice(&body);
        r.write(&out)?;
        Ok(After::Close)
    })
}

/// Waits `head_delay`, sends a `Content-Length` head, then each chunk of the
/// body with `gap` before it.
pub fn slow(head_delay: Duration, chunks: Vec<Vec<u8>>, gap: Duration) -> Handler {
    handler(move |_, r| {
        std::thread::sleep(head_delay);
        let len: usize = chunks.iter().map(Vec::len).sum();
        r.write(format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").as_bytes())?;
        for c in &chunks {
            std::thread::sleep(gap);
            r.write(c)?;
        }
        Ok(After::KeepAlive)
    })
}

/// Announces `declared` body bytes, sends `sent` of them, then closes (FIN,
/// or RST when `reset`).
pub fn dies_mid_response(declared: usize, sent: Vec<u8>, reset: bool) -> Handler {
    handler(move |_, r| {
        let mut out = format!("HTTP/1.1 200 OK\r\ncontent-length: {declared}\r\n\r\n").into_bytes();
        out.extend_from_slice(&sent);
        r.write(&out)?;
        Ok(if reset { After::Reset } else { After::Close })
    })
}

/// Like [`dies_mid_response`] for a chunked body: one chunk, then gone.
pub fn dies_mid_chunked(first: Vec<u8>) -> Handler {
    handler(move |_, r| {
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        out.extend_from_slice(format!("{:x}\r\n", first.len()).as_bytes());
        out.extend_from_slice(&first);
        out.extend_from_slice(b"\r\n");
        r.write(&out)?;
        Ok(After::Close)
    })
}

/// Reads the request and never answers; returns once the peer gives up.
pub fn black_hole() -> Handler {
    handler(|_, r| {
        let s = r.stream();
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut buf = [0u8; 1024];
        while matches!(read_retrying(s, &mut buf), Ok(n) if n > 0) {}
        Ok(After::Close)
    })
}

/// Accepts an upgrade with `101` (echoing the `Upgrade` token), then echoes
/// raw bytes until the peer half-closes, then closes.
pub fn upgrade_echo() -> Handler {
    handler(|req, r| {
        let proto = req.header("upgrade").unwrap_or("websocket").to_string();
        r.write(
            format!("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: {proto}\r\n\r\n")
                .as_bytes(),
        )?;
        let early = r.take_buffered();
        let s = r.stream();
        s.write_all(&early)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = [0u8; 4096];
        loop {
            let n = read_retrying(s, &mut buf)?;
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n])?;
        }
        Ok(After::Close)
    })
}

/// `read`, retried when a signal interrupts it.
fn read_retrying(s: &mut std::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// A latch the test opens to let held responses go (instead of guessing a
/// delay long enough for the test's next step).
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self) {
        let (m, c) = &*self.0;
        *m.lock().unwrap_or_else(|p| p.into_inner()) = true;
        c.notify_all();
    }

    /// Blocks until opened; false if `timeout` passed first.
    pub fn wait(&self, timeout: Duration) -> bool {
        let (m, c) = &*self.0;
        let g = m.lock().unwrap_or_else(|p| p.into_inner());
        let res = c.wait_timeout_while(g, timeout, |open| !*open);
        match res {
            Ok((g, _)) => *g,
            Err(p) => *p.into_inner().0,
        }
    }
}

/// Holds each request until `gate` opens (at most 30 s), then runs `inner`.
pub fn gated(gate: Gate, inner: Handler) -> Handler {
    handler(move |req, r| {
        if !gate.wait(Duration::from_secs(30)) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "gate never opened"));
        }
        inner(req, r)
    })
}

/// Answers the first request of each connection with `inner`, and closes
/// without answering when a second one arrives: the keep-alive race, made
/// deterministic.
pub fn one_per_connection(inner: Handler) -> Handler {
    handler(move |req, r| {
        if req.seq_on_conn > 0 {
            return Ok(After::Close);
        }
        inner(req, r)
    })
}
