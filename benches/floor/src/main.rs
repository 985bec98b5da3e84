//! `floor`: the least a monoio proxy can do per keep-alive request, measured
//! next to nginx and shardgate by `benches/harness/floor.py` (FACTS.md's
//! "CPU floor of a proxy"). It is what issue 12's CPU targets are weighed
//! against, so it does nothing a faster proxy could skip and nothing a real
//! one must add: one pinned io_uring runtime (`SINGLE_ISSUER |
//! DEFER_TASKRUN`, as the shards), one upstream keep-alive connection per
//! client connection, httparse on both heads, buffers reused, the request
//! and the whole response each in one write, a listener with
//! `TCP_DEFER_ACCEPT` (as the harness gives all three proxies). No routing,
//! header rewriting, limits, metrics or logs; responses must carry
//! Content-Length.
//!
//! `--timers per-op` bounds each of the four operations with a monoio
//! timeout (a clock read and a timer-wheel entry each), as a proxy that
//! enforces I/O timeouts the simple way does: the difference between the two
//! modes is the price of that.
//!
//! `--pool` takes upstream connections from one keep-alive pool (at most
//! `POOL_MAX` idle) instead of one per client connection, and honours a
//! client's `Connection: close` (the field is not forwarded, the response
//! says `connection: close` and the client connection closes after it): the
//! floor of the new-connection-per-request scenario, where a gateway accepts
//! and closes a client connection per request but reuses its upstream ones.
//!
//! Usage: `floor LISTEN UPSTREAM [--timers none|per-op] [--pool]`.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

/// The bound of each operation with `--timers per-op` (never reached in a
/// benchmark: only its bookkeeping is measured).
const OP_TIMEOUT: Duration = Duration::from_secs(60);
const HEAD_BUF: usize = 16 * 1024;
const BODY_BUF: usize = 64 * 1024;
/// Idle upstream connections kept with `--pool`; more are closed.
const POOL_MAX: usize = 1024;

#[derive(Clone, Copy)]
struct Mode {
    timers: bool,
    pool: bool,
}

/// Idle upstream keep-alive connections (`--pool`).
type Pool = Rc<RefCell<Vec<TcpStream>>>;

impl Mode {
    async fn run<T>(
        self,
        op: impl Future<Output = (io::Result<T>, Vec<u8>)>,
    ) -> (io::Result<T>, Vec<u8>) {
        if !self.timers {
            return op.await;
        }
        match monoio::time::timeout(OP_TIMEOUT, op).await {
            Ok(r) => r,
            Err(_) => (Err(io::ErrorKind::TimedOut.into()), Vec::new()),
        }
    }
}

/// The ends of the head and of the whole response that start `buf`: `None`
/// until the head is complete; `Err` for a head that is not HTTP or has no
/// Content-Length.
fn response_end(buf: &[u8]) -> io::Result<Option<(usize, usize)>> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut res = httparse::Response::new(&mut fields);
    let head = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let length = res
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no content-length"))?;
    Ok(Some((head, head + length)))
}

/// One client connection: request head in, to the upstream, whole response
/// back, until either side closes or sends what this does not handle.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    mode: Mode,
    pool: Pool,
) -> io::Result<()> {
    let mut own = None;
    let mut req = Vec::with_capacity(HEAD_BUF);
    let mut fwd = Vec::with_capacity(if mode.pool { HEAD_BUF } else { 0 });
    let mut res = Vec::with_capacity(BODY_BUF);
    loop {
        req.clear();
        let (n, b) = mode.run(client.read(req)).await;
        req = b;
        if n? == 0 {
            return Ok(());
        }
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut fields);
        // A head split over reads or a request body: not this tool's job.
        if !parsed.parse(&req).is_ok_and(|s| s.is_complete()) {
            return Ok(());
        }
        let mut close = false;
        let mut up = if mode.pool {
            close = without_connection(&parsed, &mut fwd);
            let idle = pool.borrow_mut().pop();
            match idle {
                Some(up) => up,
                None => connect(upstream).await?,
            }
        } else {
            match own.take() {
                Some(up) => up,
                None => connect(upstream).await?,
            }
        };
        let out = if mode.pool {
            std::mem::take(&mut fwd)
        } else {
            std::mem::take(&mut req)
        };
        let (w, b) = mode.run(up.write_all(out)).await;
        if mode.pool {
            fwd = b
        } else {
            req = b
        }
        w?;
        res.clear();
        let (head, end) = loop {
            if res.len() == res.capacity() {
                res.reserve(BODY_BUF);
            }
            // After the bytes already read: monoio reads into a `Vec` from
            // its start, so a response over several reads needs the slice.
            let (len, cap) = (res.len(), res.capacity());
            let read = up.read(res.slice_mut(len..cap));
            let (n, b) = mode
                .run(async {
                    let (n, b) = read.await;
                    (n, b.into_inner())
                })
                .await;
            res = b;
            if n? == 0 {
                return Ok(());
            }
            if let Some((head, end)) = response_end(&res)? {
                if res.len() >= end {
                    break (head, end);
                }
            }
        };
        res.truncate(end);
        if mode.pool {
            let mut idle = pool.borrow_mut();
            if idle.len() < POOL_MAX {
                idle.push(up);
            }
        } else {
            own = Some(up);
        }
        if close {
            // Before the blank line that ends the head.
            res.splice(head - 2..head - 2, *b"connection: close\r\n");
        }
        let (w, b) = mode.run(client.write_all(res)).await;
        res = b;
        w?;
        if close {
            return Ok(());
        }
    }
}

async fn connect(upstream: SocketAddr) -> io::Result<TcpStream> {
    let up = TcpStream::connect(upstream).await?;
    up.set_nodelay(true)?;
    Ok(up)
}

/// Writes the request's head into `out` without its `Connection` fields (the
/// upstream connection is kept whatever the client asked); whether the client
/// asked to close.
fn without_connection(req: &httparse::Request<'_, '_>, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut close = false;
    out.extend_from_slice(req.method.unwrap_or("GET").as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.path.unwrap_or("/").as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            close |= h.value.eq_ignore_ascii_case(b"close");
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    close
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: floor LISTEN UPSTREAM [--timers none|per-op] [--pool]";
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        bail!(usage);
    };
    let mut mode = Mode {
        timers: false,
        pool: false,
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--pool" => mode.pool = true,
            "--timers" => {
                mode.timers = match args.next().as_deref() {
                    Some("none") => false,
                    Some("per-op") => true,
                    _ => bail!(usage),
                }
            }
            _ => bail!(usage),
        }
    }
    let listen: SocketAddr = listen.parse().context("LISTEN")?;
    let upstream: SocketAddr = upstream.parse().context("UPSTREAM")?;
    let mut ring = io_uring::IoUring::builder();
    ring.setup_single_issuer().setup_defer_taskrun();
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .uring_builder(ring)
        .with_entries(4096)
        .enable_timer()
        .build()
        .context("io_uring runtime")?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(shardgate_floor::bind(listen)?)?;
        let pool: Pool = Rc::default();
        loop {
            let (client, _) = listener.accept().await.context("accept")?;
            client.set_nodelay(true)?;
            let pool = pool.clone();
            monoio::spawn(async move {
                // A client or origin that goes away ends its connection only.
                let _ = serve(client, upstream, mode, pool).await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{response_end, without_connection};

    #[test]
    fn a_response_ends_after_its_content_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(response_end(r).unwrap(), Some((r.len() - 5, r.len())));
        // The head is whole before the body is: the end is known already.
        assert_eq!(
            response_end(&r[..r.len() - 2]).unwrap(),
            Some((r.len() - 5, r.len()))
        );
        assert_eq!(
            response_end(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            None
        );
    }

    #[test]
    fn the_upstream_request_loses_its_connection_field() {
        let raw = b"GET /tiny HTTP/1.1\r\nHost: a\r\nConnection: Close\r\nX: 1\r\n\r\n";
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut fields);
        assert!(req.parse(raw).unwrap().is_complete());
        let mut out = Vec::new();
        assert!(without_connection(&req, &mut out));
        assert_eq!(out, b"GET /tiny HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n");
    }

    #[test]
    fn a_response_it_cannot_delimit_is_an_error() {
        assert!(response_end(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(response_end(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(response_end(b"NOT HTTP\r\n\r\n").is_err());
    }
}
