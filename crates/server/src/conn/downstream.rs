//! The client side of a connection and what a request leaves it in.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use shardgate_proxy::write_error_response;

use super::io::{write_all, Io};
use super::secure::handshake::TlsInfo;
use crate::ctx::ShardCtx;
use crate::event::LocalEvent;
use crate::lifecycle::RequestCtx;
use crate::upstream::UpConn;

/// The client side of a connection and the bytes read from it but not yet used.
pub struct Downstream<S = TcpStream> {
    pub stream: S,
    pub peer: SocketAddr,
    pub buf: Vec<u8>,
    pub pos: usize,
    /// Cancels the hot-window read; made once per connection and reused
    /// (plain TCP only).
    pub canceller: Option<monoio::io::Canceller>,
    /// TLS version and SNI name (None: cleartext); also picks the scheme
    /// forwarded upstream.
    pub tls: Option<TlsInfo>,
    /// Its listener's drain event: fired when a reload removes the
    /// listener or the shard stops (ADR 18).
    pub drain: LocalEvent,
    /// The hot window of the next wait (see `wait::next_window`).
    pub window: Duration,
    /// When the last response ended (None before the first request):
    /// the next request's start minus this is the connection's cadence.
    pub idle_from: Option<Instant>,
    /// The request that ends this connection left bytes of its own unread
    /// (a body it refused, the rest of a head it could not parse): the
    /// close lingers (`linger`).
    pub unread: bool,
}

pub enum Next {
    KeepAlive,
    Close,
    /// The client closed (or timed out) before sending a request: nothing to record.
    Eof,
    /// Internal: the upstream switched protocols (becomes `Tunnel`).
    Upgrade,
    /// The upstream connection, and its upstream's `read_timeout` (the
    /// tunnel's idle limit, as nginx's `proxy_read_timeout`).
    Tunnel(UpConn, Duration),
}

impl<S> Downstream<S> {
    /// A new connection's client side, before its first request.
    pub fn new(stream: S, peer: SocketAddr, tls: Option<TlsInfo>, drain: LocalEvent) -> Self {
        Downstream {
            stream,
            peer,
            buf: Vec::new(),
            pos: 0,
            canceller: None,
            tls,
            drain,
            window: super::window::HOT_WINDOW,
            idle_from: None,
            unread: false,
        }
    }

    /// A request that started at `started` was served and its response
    /// ended at `ended` (None: the client left before sending one): the
    /// next hot window follows the gap before it.
    pub fn served(&mut self, started: Instant, ended: Option<Instant>) {
        if let Some(from) = self.idle_from {
            self.window = super::window::next_window(started.saturating_duration_since(from));
        }
        self.idle_from = ended;
    }

    /// No further request on this connection: the response says
    /// `Connection: close` and the connection ends after it.
    pub fn draining(&self, ctx: &ShardCtx) -> bool {
        self.drain.is_set() || ctx.stopping()
    }
}

impl<S: Io> Downstream<S> {
    pub(crate) fn buffered(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// Answers the failure recorded in `rq` (if nothing was sent yet) and closes.
    pub async fn fail(&mut self, ctx: &ShardCtx, rq: &mut RequestCtx, out: &mut Vec<u8>) -> Next {
        let Some(e) = rq.failure else {
            return Next::Close;
        };
        let status = e.status();
        // 499 (the client left) has nobody to answer.
        if rq.response_started || status == 499 {
            return Next::Close;
        }
        out.clear();
        ctx.date_bytes(|d| write_error_response(out, status, false, d));
        let send = ctx.snapshot().snap.config.server.timeouts.send;
        if write_all(&mut self.stream, out, send).await.is_ok() {
            rq.responded(status, out.len());
            // What failed may have left part of the request unread (its
            // body, the rest of a head); a reset would take the answer away.
            self.unread = true;
        }
        Next::Close
    }
}
