//! One downstream connection: wait (without a buffer) for a request, read its head
//! under the header timeout, route it, answer or forward it, repeat while
//! keep-alive allows. Pipelined requests are answered in order: bytes after one
//! request stay in the buffer and are parsed next, without waiting.

pub mod body;
pub mod forward;
pub mod io;
pub mod park;
pub mod request;
pub mod response;
pub mod secure;
pub mod tunnel;
pub mod upstream;
pub mod wait;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use monoio::io::Splitable;
use monoio::net::TcpStream;
use shardgate_http::{BodyKind, Limits};
use shardgate_proxy::write_error_response;

use self::body::{pump, BodyState, Source};
use self::io::{compact, read_more, write_all, Io, IoFail};
use self::request::{prepare, Action, Input, Prepared, Step, DISCARD_LIMIT};
use self::upstream::UpConn;
use crate::conn_table::{Slot, SlotState};
use crate::shard::{ShardCtx, ShardSnap};

/// The client side of a connection and the bytes read from it but not yet used.
pub struct Downstream<S = TcpStream> {
    pub stream: S,
    pub peer: SocketAddr,
    pub buf: Vec<u8>,
    pub pos: usize,
    /// Cancels the hot-window read; made once per connection and reused
    /// (plain TCP only).
    pub canceller: Option<monoio::io::Canceller>,
    /// The connection came through TLS (the scheme forwarded upstream).
    pub secure: bool,
}

pub enum Next {
    KeepAlive,
    Close,
    /// The client closed (or timed out) before sending a request: nothing to record.
    Eof,
    /// Internal: the upstream switched protocols (becomes `Tunnel`).
    Upgrade,
    Tunnel(UpConn),
}

impl<S: Io> Downstream<S> {
    pub(crate) fn buffered(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// Sends an error response and closes (or keeps a 404 without body alive).
    pub async fn fail(&mut self, ctx: &ShardCtx, status: u16, out: &mut Vec<u8>) -> Next {
        ctx.metrics.response(status);
        out.clear();
        ctx.date_bytes(|d| write_error_response(out, status, false, d));
        let send = ctx.snapshot().snap.config.server.timeouts.send;
        let _ = write_all(&mut self.stream, out, send).await;
        Next::Close
    }
}

/// What a connection keeps between its tasks (request task, parked task).
pub struct Conn {
    down: Downstream,
    listener: usize,
    slot: Slot,
    accepted: Instant,
    /// No request served yet: the header timeout applies to the first wait.
    first: bool,
}

/// A new connection from the accept loop.
pub async fn serve(
    ctx: Rc<ShardCtx>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: usize,
    slot: Slot,
) {
    ctx.metrics.active.increment(1.0);
    let conn = Conn {
        down: Downstream {
            stream,
            peer,
            buf: Vec::new(),
            pos: 0,
            canceller: None,
            secure: false,
        },
        listener,
        slot,
        accepted: Instant::now(),
        first: true,
    };
    run(ctx, conn).await
}

/// The request task: serves requests while they come; parks the connection
/// when it goes cold, ends it when it closes.
pub(crate) async fn run(ctx: Rc<ShardCtx>, mut c: Conn) {
    loop {
        if !c.down.buffered() {
            c.slot.set_state(SlotState::Idle);
            let window = if c.first {
                wait::FIRST_HOT_WINDOW
            } else {
                wait::HOT_WINDOW
            };
            match wait::hot(&ctx, &mut c.down, window).await {
                wait::Hot::Data => {}
                wait::Hot::Closed => break,
                wait::Hot::Cold => {
                    // This task's state (the whole request path) is large; a
                    // parked connection is a table slot and an epoll entry.
                    if ctx.stopping() {
                        break;
                    }
                    let idle = {
                        let t = &ctx.snapshot().snap.config.server.timeouts;
                        if c.first {
                            t.header_read
                        } else {
                            t.keepalive
                        }
                    };
                    match park::park(&ctx, c, Instant::now() + idle) {
                        None => {
                            if let Some(s) = ctx.stats() {
                                s.on_park();
                            }
                            return;
                        }
                        // Not parked: wait here, with a small buffer, as TLS
                        // connections do.
                        Some(back) => c = back,
                    }
                    if !wait::until(&ctx, &mut c.down, idle).await {
                        break;
                    }
                }
            }
            c.slot.set_state(SlotState::Busy);
        }
        c.first = false;
        if c.down.buf.capacity() == 0 {
            c.down.buf = ctx.buffers.take();
        }
        match serve_one(&ctx, &mut c.down, c.listener).await {
            Next::KeepAlive if !ctx.stopping() => continue,
            Next::Tunnel(up) => {
                let Conn {
                    down,
                    slot,
                    accepted,
                    ..
                } = c;
                let pending = tunnel::pending(&down);
                let (dr, dw) = down.stream.into_split();
                tunnel::tunnel(dr, dw, pending, up, tunnel::limits(&ctx)).await;
                closed(&ctx, slot, accepted);
                return;
            }
            _ => break,
        }
    }
    ctx.give_buffer(std::mem::take(&mut c.down.buf));
    closed(&ctx, c.slot, c.accepted);
}

/// Accounting for a connection that ends; dropping the slot frees it.
pub(crate) fn closed(ctx: &ShardCtx, slot: Slot, accepted: Instant) {
    account_close(ctx, accepted);
    drop(slot);
}

/// The metrics and counters of a connection that ends.
pub(crate) fn account_close(ctx: &ShardCtx, accepted: Instant) {
    ctx.metrics.active.decrement(1.0);
    if let Some(s) = ctx.stats() {
        s.on_close();
    }
    ctx.metrics
        .connection_seconds
        .record(accepted.elapsed().as_secs_f64());
}

/// One request on `down`, with a pooled buffer for the outgoing head and
/// its duration recorded.
pub(crate) async fn serve_one<S: Io>(
    ctx: &ShardCtx,
    down: &mut Downstream<S>,
    listener: usize,
) -> Next {
    let mut out = ctx.buffers.take();
    let started = Instant::now();
    let next = handle(ctx, down, listener, &mut out).await;
    if !matches!(next, Next::Eof) {
        ctx.metrics
            .request_seconds
            .record(started.elapsed().as_secs_f64());
    }
    ctx.buffers.give(out);
    next
}

async fn handle<S: Io>(
    ctx: &ShardCtx,
    down: &mut Downstream<S>,
    listener: usize,
    out: &mut Vec<u8>,
) -> Next {
    let snap = ctx.snapshot();
    let scfg = &snap.snap.config.server;
    let limits = Limits {
        max_request_line: scfg.limits.max_request_line,
        max_head_bytes: scfg.limits.max_header_bytes,
        max_headers: scfg.limits.max_headers,
    };
    let deadline = Instant::now() + scfg.timeouts.header_read;
    let prepared = loop {
        let input = Input {
            data: down.buf.get(down.pos..).unwrap_or_default(),
            listener,
            client_ip: down.peer.ip(),
            scheme: if down.secure { "https" } else { "http" },
            limits: &limits,
        };
        match prepare(ctx, &snap, input, out) {
            Step::Ready(p) => break p,
            Step::Malformed(status) => {
                ctx.metrics.client_errors.increment(1);
                return down.fail(ctx, status, out).await;
            }
            Step::Partial => {}
        }
        if down.buf.len() == down.buf.capacity() {
            if down.pos == 0 {
                return down.fail(ctx, 431, out).await;
            }
            compact(&mut down.buf, &mut down.pos);
        }
        let had = down.buf.len() > down.pos;
        let left = deadline.saturating_duration_since(Instant::now());
        match read_more(&mut down.stream, &mut down.buf, left).await {
            Ok(0) if had => return Next::Close,
            Ok(0) => return Next::Eof,
            Ok(_) => {}
            Err(IoFail::Timeout) if had => return down.fail(ctx, 408, out).await,
            Err(_) if had => return Next::Close,
            Err(_) => return Next::Eof,
        }
    };
    down.pos += prepared.head_len;
    match prepared.action {
        Action::Reject { status } => {
            let keep = status == 404 && prepared.body == BodyKind::None && prepared.keep_alive;
            if !keep {
                return down.fail(ctx, status, out).await;
            }
            ctx.metrics.response(status);
            out.clear();
            ctx.date_bytes(|d| write_error_response(out, status, true, d));
            finish_local(&snap, down, &prepared, out).await
        }
        Action::Respond => {
            ctx.metrics.response(status_of(out));
            finish_local(&snap, down, &prepared, out).await
        }
        Action::Proxy { upstream, route } => {
            forward::proxy(ctx, &snap, down, &prepared, upstream, route, out).await
        }
    }
}

/// Answers from the gateway itself: reads and drops the request body (so the
/// next request on the connection is found), then writes `out`.
async fn finish_local<S: Io>(
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    out: &mut Vec<u8>,
) -> Next {
    let scfg = &snap.snap.config.server;
    let mut keep = p.keep_alive;
    let small = match p.body {
        BodyKind::Length(n) => n <= DISCARD_LIMIT,
        _ => true,
    };
    if p.body != BodyKind::None && (!small || p.expect_continue) {
        keep = false;
    } else if p.body != BodyKind::None {
        let mut state = BodyState::new(p.body);
        let src = Source {
            stream: &mut down.stream,
            buf: &mut down.buf,
            pos: &mut down.pos,
            read_timeout: scfg.timeouts.body_read,
        };
        if pump(
            &mut state,
            src,
            None::<&mut S>,
            scfg.timeouts.send,
            DISCARD_LIMIT,
        )
        .await
        .is_err()
        {
            keep = false;
        }
    }
    if write_all(&mut down.stream, out, scfg.timeouts.send)
        .await
        .is_err()
    {
        return Next::Close;
    }
    if keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// The status code of a response head written into `out` ("HTTP/1.1 200 …").
fn status_of(out: &[u8]) -> u16 {
    out.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}
