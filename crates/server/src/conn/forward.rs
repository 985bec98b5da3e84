//! Forwarding one request to an upstream (the lifecycle's select and send
//! phases for HTTP/1.1), attempt after attempt as the retry rule allows.
//!
//! The request head (already rewritten into `out`) and whatever body bytes came
//! with it go out in one write; then the rest of the body streams. When the
//! route keeps bodies for retries (`[route.retry] buffer_body`), a copy of the
//! body as sent is kept ([`Replay`]); a retry sends the head and that copy,
//! then streams on from the client. Whether a failed attempt is sent again is
//! `Attempts::retry_after_select` / `retry_after` (errors) and
//! `Attempts::retry_status` (an origin's 502/503/504, at the response head):
//! ADR 4.

use shardgate_http::BodyKind;
use shardgate_proxy::{Error, ErrorKind};

use super::body::{BodyState, Direction};
use super::downstream::{Downstream, Next};
use super::io::{write_all, Io};
use super::local::refuse;
use super::pump::{pump, Source, Splicer};
use super::receive::{receive, Outcome};
use super::request::Prepared;
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{select, within, Attempts, BodyLen, Replay, RequestCtx};
use crate::upstream::{release, UpConn};

/// The request body's progress, carried from one attempt to the next.
struct Upload {
    /// The body's framing on the client side: where the next attempt goes
    /// on from.
    body: BodyState,
    replay: Replay,
    /// An attempt was sent (and may have taken body bytes from the client).
    started: bool,
}

impl Upload {
    /// Everything taken from the client so far can be sent again.
    fn resendable(&self) -> bool {
        !self.started || self.replay.intact()
    }
}

pub async fn proxy<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    upstream: usize,
    rq: &mut RequestCtx,
    out: &mut Vec<u8>,
) -> Next {
    let cfg = &snap.snap.config;
    let (Some(ucfg), Some(ust), Some(route)) = (
        cfg.upstreams.get(upstream),
        snap.upstreams.get(upstream),
        rq.route.and_then(|r| cfg.routes.get(r)),
    ) else {
        rq.fail(Error::new(ErrorKind::Internal));
        return down.fail(ctx, rq, out).await;
    };
    let mut plan = Attempts::new(route, ucfg, ust, p.idempotent);
    if let Err(e) = plan.admit() {
        // Over the upstream's adaptive limit: shed now, before any byte of
        // the body was read; the connection stays open when it can.
        rq.fail(e);
        let mut p = *p;
        return refuse(ctx, snap, down, &mut p, out, rq).await;
    }
    let len = match p.body {
        BodyKind::None | BodyKind::CloseDelimited => BodyLen::None,
        BodyKind::Length(n) => BodyLen::Known(n),
        BodyKind::Chunked => BodyLen::Unknown,
    };
    let mut upload = Upload {
        body: BodyState::new(p.body),
        replay: Replay::new(len, plan.buffer_body(), || ctx.stream_buffers.take()),
        started: false,
    };
    let head_len = out.len();
    let next = loop {
        let replayable = plan.idempotent && upload.replay.intact();
        let mut up = match select(rq, ust, ucfg, &ctx.rng, &plan, replayable).await {
            Ok(c) => c,
            Err(e) if plan.retry_after_select(rq, &e, upload.resendable()) => continue,
            Err(e) => {
                rq.fail(e);
                break down.fail(ctx, rq, out).await;
            }
        };
        // A write that lost `out` (cancelled by its deadline) failed with a
        // timeout, which is never retried: here `out` still holds the head.
        out.truncate(head_len);
        let left = plan.remaining();
        // Without a total timeout the attempt is awaited where it is built:
        // its future is large, and handing it to `within` by value copies
        // all of it per request.
        let exchanged = match left {
            None => exchange(ctx, snap, down, p, &mut up, out, rq, &mut upload, &mut plan).await,
            Some(_) => {
                within(
                    left,
                    exchange(ctx, snap, down, p, &mut up, out, rq, &mut upload, &mut plan),
                )
                .await
            }
        };
        match exchanged {
            Ok(Outcome::Sent {
                next: Next::Upgrade,
                ..
            }) => break Next::Tunnel(up, plan.timeouts.read),
            Ok(Outcome::Sent { next, reusable }) => {
                if reusable {
                    release(up, &ctx.rng);
                }
                break next;
            }
            // Dropped at its head (counted there); the connection closes.
            Ok(Outcome::Retry) => continue,
            Err(e) if plan.retry_after(rq, &e, upload.resendable(), &ctx.rng) => continue,
            Err(e) => {
                rq.fail(e);
                break down.fail(ctx, rq, out).await;
            }
        }
    };
    let kept = upload.replay.into_buffer();
    if kept.capacity() > 0 {
        ctx.give_buffer(kept);
    }
    next
}

/// One attempt: send the request, then receive the response.
#[allow(clippy::too_many_arguments)]
async fn exchange<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    up: &mut UpConn,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
    upload: &mut Upload,
    plan: &mut Attempts<'_>,
) -> Result<Outcome, Error> {
    // An origin that stops taking the body may have answered already (RFC
    // 9112 §9.5: a 413 or 401 before reading it): that answer is read and
    // passed on instead of a 502, and the client connection then closes
    // (the rest of its body was never read). With nothing to read, the
    // send's own error stands (and the retry rule sees it).
    let stopped = match send(ctx, snap, down, p, up, out, rq, upload, plan.idempotent).await {
        Ok(()) => None,
        Err(e) if e.kind() == ErrorKind::UpstreamReset => Some(e),
        Err(e) => return Err(e),
    };
    plan.sent();
    let closing;
    let p = match stopped {
        Some(_) => {
            closing = Prepared {
                keep_alive: false,
                ..*p
            };
            &closing
        }
        None => p,
    };
    // The client-bound head gets its own buffer: `out` must keep the request
    // intact in case the exchange is retried.
    let mut ubuf = ctx.stream_buffers.take();
    let mut head = ctx.buffers.take();
    let replayable = plan.idempotent && upload.replay.intact();
    let result = receive(
        ctx, snap, down, p, out, up, &mut head, &mut ubuf, plan, replayable, rq,
    )
    .await;
    ctx.give_buffer(head);
    ctx.stream_buffers.give(ubuf);
    match (result, stopped) {
        (Ok(Outcome::Sent { next, .. }), Some(_)) => {
            down.unread = true;
            Ok(Outcome::Sent {
                next,
                reusable: false,
            })
        }
        // No answer came (or one the retry rule drops): the send failed.
        (Ok(Outcome::Retry) | Err(_), Some(e)) if !rq.response_started => Err(e),
        (result, _) => result,
    }
}

/// The send phase: request head plus the body bytes that came with it in one
/// write, then the rest of the body. A retry sends the head, the body bytes
/// kept from earlier attempts, then the rest.
#[allow(clippy::too_many_arguments)]
async fn send<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    up: &mut UpConn,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
    upload: &mut Upload,
    idempotent: bool,
) -> Result<(), Error> {
    let scfg = &snap.snap.config.server;
    let send = scfg.timeouts.send;
    let again = upload.started;
    if !again {
        upload.started = true;
        // Only what fits in `out`'s spare capacity: `out` must not grow.
        let fits = (down.pos + out.capacity().saturating_sub(out.len())).min(down.buf.len());
        let n = upload
            .body
            .advance(down.buf.get(down.pos..fits).unwrap_or_default())
            .map_err(|e| Error::new(ErrorKind::ClientMalformed { status: e.status() }))?;
        let first = down.buf.get(down.pos..down.pos + n).unwrap_or_default();
        out.extend_from_slice(first);
        upload.replay.keep(first);
        down.pos += n;
        rq.bytes_in += n as u64;
        if upload.body.over_limit(scfg.limits.max_body_bytes, n as u64) {
            return Err(Error::new(ErrorKind::BodyTooLarge));
        }
        if p.expect_continue && !upload.body.is_done() && n == 0 {
            let mut cont = ctx.buffers.take();
            cont.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            let r = write_all(&mut down.stream, &mut cont, send).await;
            rq.bytes_out += cont.len() as u64;
            ctx.buffers.give(cont);
            r.map_err(|f| Error::new(ErrorKind::ClientClosed).with_errno(f.errno()))?;
        }
    }
    let replayable = |u: &Upload| idempotent && u.replay.intact();
    if let Err(f) = write_all(&mut up.stream, out, send).await {
        return Err(f.upstream_write(replayable(upload)));
    }
    if again && !upload.replay.is_empty() {
        // The body bytes earlier attempts took from the client, again.
        let r = write_all(&mut up.stream, upload.replay.lend(), send).await;
        upload.replay.returned();
        r.map_err(|f| f.upstream_write(replayable(upload)))?;
    }
    if !upload.body.is_done() {
        let src = Source {
            stream: &mut down.stream,
            buf: &mut down.buf,
            pos: &mut down.pos,
            read_timeout: scfg.timeouts.body_read,
        };
        let pumped = pump(
            &mut upload.body,
            src,
            Some(&mut up.stream),
            send,
            scfg.limits.max_body_bytes,
            Direction::Request,
            Some(&mut upload.replay),
            scfg.splice.then_some(Splicer {
                pipes: &ctx.pipes,
                bytes: &ctx.metrics.spliced_bytes,
            }),
        )
        .await;
        pumped.result.map_err(|e| match e.kind() {
            // The origin stopped taking the body: nothing came back yet.
            ErrorKind::UpstreamReset => e.with_retry_safe(replayable(upload)),
            _ => e,
        })?;
        rq.bytes_in += pumped.taken;
    }
    Ok(())
}
