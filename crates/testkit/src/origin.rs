//! A scriptable upstream server on std threads and blocking sockets: one thread
//! accepts, one thread per connection reads requests and hands each to the
//! test's handler. It counts connections and requests (to see upstream
//! keep-alive at work) and records every request it read in full (to check
//! header rewriting and body integrity byte for byte).

pub mod faults;
pub mod handlers;
pub mod tls;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::wire::{declared_framing, request_head_len, Framing, Headers, Reader, HEADER_SLOTS};

/// What the handler wants done with the connection afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Read the next request.
    KeepAlive,
    /// Close normally (FIN).
    Close,
    /// Close with a reset (SO_LINGER 0): the peer gets RST, not FIN.
    Reset,
}

/// A request as the origin received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub minor_version: u8,
    pub headers: Headers,
    /// The head exactly as received.
    pub raw_head: Vec<u8>,
    /// The decoded body.
    pub body: Vec<u8>,
    /// The body as received (chunk framing and trailers included).
    pub raw_body: Vec<u8>,
    pub trailers: Headers,
    pub framing: Framing,
    /// The body ended where its framing said (false: the gateway closed early).
    pub complete: bool,
    /// Which accepted connection (0-based, in accept order) it came on.
    pub conn: usize,
    /// Its position on that connection (0 = first request).
    pub seq_on_conn: usize,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// The handler's side of the connection: write the response (or anything).
pub struct Reply<'a> {
    stream: &'a mut TcpStream,
    reader: &'a mut Reader,
}

impl Reply<'_> {
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// The socket itself, for behaviours that read after answering (tunnels,
    /// black holes).
    pub fn stream(&mut self) -> &mut TcpStream {
        self.stream
    }

    /// Bytes that arrived after the request but were not part of it (the
    /// first bytes of a tunnel, a pipelined request); they are consumed.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.reader.take_buffered()
    }
}

pub type Handler = Arc<dyn Fn(&Request, &mut Reply<'_>) -> io::Result<After> + Send + Sync>;

/// Turns a closure into a [`Handler`].
pub fn handler<F>(f: F) -> Handler
where
    F: Fn(&Request, &mut Reply<'_>) -> io::Result<After> + Send + Sync + 'static,
{
    Arc::new(f)
}

/// Origin-wide behaviour that is not about one response.
#[derive(Clone)]
pub struct OriginOptions {
    /// Answer `Expect: 100-continue` with `100 Continue` before reading the body.
    pub send_continue: bool,
    /// Close a connection that sends nothing for this long between requests
    /// (as real servers' keep-alive timeouts do).
    pub idle_timeout: Duration,
}

impl Default for OriginOptions {
    fn default() -> Self {
        Self {
            send_continue: true,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

struct Inner {
    handler: Handler,
    opts: OriginOptions,
    stop: AtomicBool,
    connections: AtomicUsize,
    requests: AtomicUsize,
    received: Mutex<Vec<Request>>,
    /// When each connection was accepted (measures reconnect backoff).
    accepted_at: Mutex<Vec<Instant>>,
    changed: Condvar,
    /// Clones of the open connections, so the test (or drop) can close them.
    open: Mutex<Vec<(usize, TcpStream)>>,
}

pub struct Origin {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Origin {
    pub fn start(handler: Handler) -> Result<Origin> {
        Self::with_options(handler, OriginOptions::default())
    }

    pub fn with_options(handler: Handler, opts: OriginOptions) -> Result<Origin> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), handler, opts)
    }

    /// An origin on a given address: a server that comes back on the port it
    /// had (see [`faults::Flapping`]).
    pub fn bind(addr: SocketAddr, handler: Handler, opts: OriginOptions) -> Result<Origin> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            handler,
            opts,
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
            accepted_at: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            open: Mutex::new(Vec::new()),
        });
        let i2 = inner.clone();
        let accept = std::thread::Builder::new()
            .name(format!("origin-{}", addr.port()))
            .spawn(move || accept_loop(listener, i2))?;
        Ok(Origin {
            addr,
            inner,
            accept: Some(accept),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// When each connection was accepted, in accept order.
    pub fn accept_times(&self) -> Vec<Instant> {
        lock(&self.inner.accepted_at).clone()
    }

    /// Requests read in full so far (whatever the handler then did).
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Every request read so far, in arrival order.
    pub fn received(&self) -> Vec<Request> {
        lock(&self.inner.received).clone()
    }

    /// The most recent request.
    pub fn last(&self) -> Option<Request> {
        lock(&self.inner.received).last().cloned()
    }

    /// Waits until at least `n` requests have arrived; false on timeout.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.inner.received);
        while g.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = match self.inner.changed.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    /// Connections currently open (accepted and not yet ended).
    pub fn open_connections(&self) -> usize {
        lock(&self.inner.open).len()
    }

    /// Closes every open connection from the origin's side (FIN both ways),
    /// as a server whose keep-alive timeout fired would.
    pub fn close_connections(&self) {
        for (_, s) in lock(&self.inner.open).iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        self.close_connections();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    for stream in listener.incoming() {
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        lock(&inner.accepted_at).push(Instant::now());
        let id = inner.connections.fetch_add(1, Ordering::SeqCst);
        let inner = inner.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("origin-conn-{id}"))
            .spawn(move || serve(stream, id, inner));
        if spawned.is_err() {
            // Out of threads: the stream was moved into the failed closure and is closed.
            continue;
        }
    }
}

fn serve(stream: TcpStream, id: usize, inner: Arc<Inner>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    if let Ok(c) = stream.try_clone() {
        lock(&inner.open).push((id, c));
    }
    let after = serve_requests(&stream, id, &inner);
    if after == After::Reset {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
    lock(&inner.open).retain(|(i, _)| *i != id);
    drop(stream);
}

fn serve_requests(stream: &TcpStream, id: usize, inner: &Inner) -> After {
    let (Ok(read_half), Ok(mut write_half)) = (stream.try_clone(), stream.try_clone()) else {
        return After::Close;
    };
    let mut reader = Reader::new(read_half);
    for seq in 0.. {
        let _ = stream.set_read_timeout(Some(inner.opts.idle_timeout));
        let req = match read_request(&mut reader, &mut write_half, id, seq, &inner.opts) {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return After::Close,
        };
        let complete = req.complete;
        {
            let mut g = lock(&inner.received);
            g.push(req.clone());
            inner.requests.fetch_add(1, Ordering::SeqCst);
            inner.changed.notify_all();
        }
        if !complete {
            return After::Close;
        }
        let mut reply = Reply {
            stream: &mut write_half,
            reader: &mut reader,
        };
        match (inner.handler)(&req, &mut reply) {
            Ok(After::KeepAlive) => {}
            Ok(other) => return other,
            Err(_) => return After::Close,
        }
    }
    After::Close
}

fn read_request(
    reader: &mut Reader,
    out: &mut TcpStream,
    conn: usize,
    seq: usize,
    opts: &OriginOptions,
) -> Result<Option<Request>> {
    let Some(raw_head) = reader.read_head(request_head_len)? else {
        return Ok(None);
    };
    let mut h = vec![httparse::EMPTY_HEADER; HEADER_SLOTS];
    let mut r = httparse::Request::new(&mut h);
    r.parse(&raw_head)
        .map_err(|e| crate::Error::Malformed(format!("request head: {e}")))?;
    let headers = Headers::from_httparse(r.headers);
    let framing = declared_framing(&headers)?.unwrap_or(Framing::None);
    let method = r.method.unwrap_or("").to_string();
    let target = r.path.unwrap_or("").to_string();
    let minor_version = r.version.unwrap_or(1);
    let _ = reader
        .stream()
        .set_read_timeout(Some(Duration::from_secs(30)));
    if opts.send_continue
        && headers.lists("expect", "100-continue")
        && framing != Framing::None
        && framing != Framing::Length(0)
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = reader.read_body(framing)?;
    Ok(Some(Request {
        method,
        target,
        minor_version,
        headers,
        raw_head,
        body: body.data,
        raw_body: body.raw,
        trailers: body.trailers,
        framing,
        complete: body.complete,
        conn,
        seq_on_conn: seq,
    }))
}
