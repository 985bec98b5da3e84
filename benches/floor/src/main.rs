//! `floor`: the least a monoio proxy can do per keep-alive request, measured
//! next to nginx and shardgate by `benches/harness/floor.py` (FACTS.md's
//! "CPU floor of a proxy"). It is what issue 12's CPU targets are weighed
//! against, so it does nothing a faster proxy could skip and nothing a real
//! one must add: one pinned io_uring runtime (`SINGLE_ISSUER |
//! DEFER_TASKRUN`, as the shards), one upstream keep-alive connection per
//! client connection, httparse on both heads, buffers reused, the request
//! and the whole response each in one write. No routing, header rewriting,
//! limits, metrics or logs; responses must carry Content-Length.
//!
//! `--timers per-op` bounds each of the four operations with a monoio
//! timeout (a clock read and a timer-wheel entry each), as a proxy that
//! enforces I/O timeouts the simple way does: the difference between the two
//! modes is the price of that.
//!
//! Usage: `floor LISTEN UPSTREAM [--timers none|per-op]`.
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

/// The bound of each operation with `--timers per-op` (never reached in a
/// benchmark: only its bookkeeping is measured).
const OP_TIMEOUT: Duration = Duration::from_secs(60);
const HEAD_BUF: usize = 16 * 1024;
const BODY_BUF: usize = 64 * 1024;

#[derive(Clone, Copy)]
struct Mode {
    timers: bool,
}

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

/// The end of the response whose head starts `buf`: `None` until the head is
/// complete; `Err` for a head that is not HTTP or has no Content-Length.
fn response_end(buf: &[u8]) -> io::Result<Option<usize>> {
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
    Ok(Some(head + length))
}

/// One client connection: request head in, to the upstream, whole response
/// back, until either side closes or sends what this does not handle.
async fn serve(mut client: TcpStream, upstream: SocketAddr, mode: Mode) -> io::Result<()> {
    let mut up = TcpStream::connect(upstream).await?;
    up.set_nodelay(true)?;
    let mut req = Vec::with_capacity(HEAD_BUF);
    let mut res = Vec::with_capacity(BODY_BUF);
    loop {
        req.clear();
        let (n, b) = mode.run(client.read(req)).await;
        req = b;
        if n? == 0 {
            return Ok(());
        }
        let mut fields = [httparse::EMPTY_HEADER; 64];
        // A head split over reads or a request body: not this tool's job.
        if !httparse::Request::new(&mut fields)
            .parse(&req)
            .is_ok_and(|s| s.is_complete())
        {
            return Ok(());
        }
        let (w, b) = mode.run(up.write_all(req)).await;
        req = b;
        w?;
        res.clear();
        let end = loop {
            if res.len() == res.capacity() {
                res.reserve(BODY_BUF);
            }
            let (n, b) = mode.run(up.read(res)).await;
            res = b;
            if n? == 0 {
                return Ok(());
            }
            if let Some(end) = response_end(&res)? {
                if res.len() >= end {
                    break end;
                }
            }
        };
        res.truncate(end);
        let (w, b) = mode.run(client.write_all(res)).await;
        res = b;
        w?;
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, mode) = match args.as_slice() {
        [l, u] => (l, u, Mode { timers: false }),
        [l, u, flag, m] if flag == "--timers" => match m.as_str() {
            "none" => (l, u, Mode { timers: false }),
            "per-op" => (l, u, Mode { timers: true }),
            other => bail!("--timers: none or per-op, not {other}"),
        },
        _ => bail!("usage: floor LISTEN UPSTREAM [--timers none|per-op]"),
    };
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
        let listener = TcpListener::bind(listen).context("bind")?;
        loop {
            let (client, _) = listener.accept().await.context("accept")?;
            client.set_nodelay(true)?;
            monoio::spawn(async move {
                // A client or origin that goes away ends its connection only.
                let _ = serve(client, upstream, mode).await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::response_end;

    #[test]
    fn a_response_ends_after_its_content_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(response_end(r).unwrap(), Some(r.len()));
        // The head is whole before the body is: the end is known already.
        assert_eq!(response_end(&r[..r.len() - 2]).unwrap(), Some(r.len()));
        assert_eq!(
            response_end(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            None
        );
    }

    #[test]
    fn a_response_it_cannot_delimit_is_an_error() {
        assert!(response_end(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(response_end(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(response_end(b"NOT HTTP\r\n\r\n").is_err());
    }
}
