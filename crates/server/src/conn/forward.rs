//! Forwarding one request to an upstream (the lifecycle's select and send
//! phases for HTTP/1.1), with the retry rule.
//!
//! The request head (already rewritten into `out`) and whatever body bytes came
//! with it go out in one write; then the rest of the body streams. A request
//! that failed on a *reused* upstream connection before any response byte
//! arrived is retried once on a fresh connection, but only when it had no body
//! and its method is idempotent (RFC 9110 §9.2.2): the keep-alive race must not
//! lose a GET, and must never repeat a POST (`lifecycle::retry_after`).

use shardgate_http::BodyKind;
use shardgate_proxy::{Error, ErrorKind};

use super::body::{pump, BodyState, Direction, Source};
use super::downstream::{Downstream, Next};
use super::io::{write_all, Io};
use super::receive::{receive, Outcome};
use super::request::Prepared;
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{retry_after, select, RequestCtx};
use crate::upstream::{release, UpConn};

pub async fn proxy<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    upstream: usize,
    rq: &mut RequestCtx,
    out: &mut Vec<u8>,
) -> Next {
    let (Some(ucfg), Some(ust)) = (
        snap.snap.config.upstreams.get(upstream),
        snap.upstreams.get(upstream),
    ) else {
        rq.fail(Error::new(ErrorKind::Internal));
        return down.fail(ctx, rq, out).await;
    };
    let replayable = p.body == BodyKind::None && p.idempotent;
    let head_len = out.len();
    loop {
        let mut up = match select(rq, ust, ucfg, &ctx.rng, replayable).await {
            Ok(c) => c,
            Err(e) => {
                rq.fail(e);
                return down.fail(ctx, rq, out).await;
            }
        };
        out.truncate(head_len);
        match exchange(ctx, snap, down, p, &mut up, out, rq).await {
            Ok(Outcome { next, reusable }) => {
                if matches!(next, Next::Upgrade) {
                    return Next::Tunnel(up, ucfg.read_timeout);
                }
                if reusable {
                    release(up, &ctx.rng);
                }
                return next;
            }
            Err(e) if retry_after(rq, ust, &e, &ctx.rng) => continue,
            Err(e) => {
                rq.fail(e);
                return down.fail(ctx, rq, out).await;
            }
        }
    }
}

/// One attempt: send the request, then receive the response.
async fn exchange<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    up: &mut UpConn,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
) -> Result<Outcome, Error> {
    send(ctx, snap, down, p, up, out, rq).await?;
    // The client-bound head gets its own buffer: `out` must keep the request
    // intact in case the exchange is retried on a fresh connection.
    let mut ubuf = ctx.stream_buffers.take();
    let mut head = ctx.buffers.take();
    let ucfg = rq
        .upstream
        .and_then(|u| snap.snap.config.upstreams.get(u))
        .ok_or(Error::new(ErrorKind::Internal));
    let result = match ucfg {
        Ok(ucfg) => receive(ctx, snap, down, p, up, &mut head, &mut ubuf, ucfg, rq).await,
        Err(e) => Err(e),
    };
    ctx.give_buffer(head);
    ctx.stream_buffers.give(ubuf);
    result
}

/// The send phase: request head plus the body bytes that came with it in one
/// write, then the rest of the body.
async fn send<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    up: &mut UpConn,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
) -> Result<(), Error> {
    let scfg = &snap.snap.config.server;
    let send = scfg.timeouts.send;
    let replayable = p.body == BodyKind::None && p.idempotent;
    let mut req_body = BodyState::new(p.body);
    // Only what fits in `out`'s spare capacity: `out` must not grow.
    let fits = (down.pos + out.capacity().saturating_sub(out.len())).min(down.buf.len());
    let n = req_body
        .advance(down.buf.get(down.pos..fits).unwrap_or_default())
        .map_err(|e| Error::new(ErrorKind::ClientMalformed { status: e.status() }))?;
    out.extend_from_slice(down.buf.get(down.pos..down.pos + n).unwrap_or_default());
    down.pos += n;
    rq.bytes_in += n as u64;
    if req_body.over_limit(scfg.limits.max_body_bytes, n as u64) {
        return Err(Error::new(ErrorKind::BodyTooLarge));
    }
    if p.expect_continue && !req_body.is_done() && n == 0 {
        let mut cont = ctx.buffers.take();
        cont.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        let r = write_all(&mut down.stream, &mut cont, send).await;
        rq.bytes_out += cont.len() as u64;
        ctx.buffers.give(cont);
        r.map_err(|f| Error::new(ErrorKind::ClientClosed).with_errno(f.errno()))?;
    }
    if let Err(f) = write_all(&mut up.stream, out, send).await {
        // Nothing of the response came yet: resending is safe for a
        // replayable request (`should_retry` adds the other conditions).
        return Err(Error::after_send(ErrorKind::UpstreamReset, replayable).with_errno(f.errno()));
    }
    if !req_body.is_done() {
        let src = Source {
            stream: &mut down.stream,
            buf: &mut down.buf,
            pos: &mut down.pos,
            read_timeout: scfg.timeouts.body_read,
        };
        let moved = pump(
            &mut req_body,
            src,
            Some(&mut up.stream),
            send,
            scfg.limits.max_body_bytes,
            Direction::Request,
        )
        .await?;
        rq.bytes_in += moved;
    }
    Ok(())
}
