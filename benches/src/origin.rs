//! A minimal keep-alive HTTP/1.1 origin on std threads, for in-process tests.
//!
//! It answers every request head with one fixed response and keeps the
//! connection open. After a connection's thread is spawned it allocates
//! nothing (fixed stack buffer, `&'static` response), so an allocation counter
//! that sees the whole process measures the gateway, not the origin. Requests
//! with bodies are not supported: it only looks for the end of each head.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head the origin buffers.
const BUF: usize = 16 * 1024;

pub struct Origin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    served: AtomicU64,
    accepted: AtomicU64,
    /// A handle on each connection (to shut it down) and its thread, so that
    /// dropping the origin leaves no thread behind to exit (and free memory)
    /// while a later measurement runs.
    conns: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

impl Origin {
    /// Listens on 127.0.0.1 (any free port) and answers every request with
    /// `response`, which must be one complete HTTP/1.1 response.
    pub fn start(response: &'static [u8]) -> io::Result<Origin> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            served: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("origin-accept".into())
            .spawn(move || accept_loop(listener, s, response))?;
        Ok(Origin {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Responses written so far (each counted just before its write).
    pub fn served(&self) -> u64 {
        self.shared.served.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Origin {
    /// Stops accepting, closes every connection and waits for all threads.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let conns = match self.shared.conns.lock() {
            Ok(mut c) => std::mem::take(&mut *c),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for (stream, thread) in conns {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, response: &'static [u8]) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("origin-conn".into())
            .spawn(move || {
                let _ = serve(stream, &s, response);
            });
        let Ok(thread) = spawned else {
            return;
        };
        if let Ok(mut conns) = shared.conns.lock() {
            conns.push((handle, thread));
        }
    }
}

fn serve(mut stream: TcpStream, shared: &Shared, response: &'static [u8]) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; BUF];
    let mut len = 0;
    loop {
        let Some(free) = buf.get_mut(len..).filter(|f| !f.is_empty()) else {
            return Ok(()); // head larger than the buffer: give up on this peer
        };
        let n = stream.read(free)?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        // Answer every complete head in the buffer (pipelining included).
        let mut start = 0;
        while let Some(end) = head_end(buf.get(start..len).unwrap_or_default()) {
            // Counted before the write: a client that has read a response
            // must already see it counted.
            shared.served.fetch_add(1, Ordering::Relaxed);
            stream.write_all(response)?;
            start += end;
        }
        buf.copy_within(start..len, 0);
        len -= start;
    }
}

/// Length of the head at the start of `buf` (through CRLFCRLF), if complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    #[test]
    fn answers_each_request_on_a_kept_alive_connection() {
        let origin = Origin::start(RESPONSE).unwrap();
        let mut c = TcpStream::connect(origin.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Two pipelined heads in one write, then a third head split in two.
        c.write_all(b"GET /a HTTP/1.1\r\nHost: o\r\n\r\nGET /b HTTP/1.1\r\nHost: o\r\n\r\n")
            .unwrap();
        let mut got = vec![0u8; RESPONSE.len() * 2];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, [RESPONSE, RESPONSE].concat());
        c.write_all(b"GET /c HTTP/1.1\r\nHo").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        c.write_all(b"st: o\r\n\r\n").unwrap();
        let mut one = vec![0u8; RESPONSE.len()];
        c.read_exact(&mut one).unwrap();
        assert_eq!(one, RESPONSE);
        assert_eq!(origin.served(), 3);
        assert_eq!(origin.accepted(), 1);
    }

    #[test]
    fn head_end_finds_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(head_end(b""), None);
    }
}
