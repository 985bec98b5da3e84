//! Forwarding one request to an upstream and its response back.
//!
//! The request head (already rewritten into `out`) and whatever body bytes came
//! with it go out in one write; the response head and the first body bytes go
//! back in one write; the rest streams. A request that failed on a *reused*
//! upstream connection before any response byte arrived is retried once on a
//! fresh connection, but only when it had no body and its method is idempotent
//! (RFC 9110 §9.2.2): the keep-alive race must not lose a GET, and must never
//! repeat a POST.

use std::time::Instant;

use shardgate_http::{BodyKind, Limits};

use super::body::{pump, BodyError, BodyState, Source};
use super::io::{read_more, write_all, write_range, Io, IoFail};
use super::request::Prepared;
use super::response::{prepare_response, RespInput, RespStep};
use super::upstream::{acquire, release, UpConn};
use super::{Downstream, Next};
use crate::shard::{ShardCtx, ShardSnap};

/// What went wrong before the response head reached the client.
enum Failure {
    Status(u16),
    /// The reused connection died before answering: try once more on a new one.
    Retry,
    /// The client went away or broke its framing: just close.
    Close,
}

pub async fn proxy<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    upstream: usize,
    route: usize,
    out: &mut Vec<u8>,
) -> Next {
    let (Some(ucfg), Some(ust), Some(route_cfg)) = (
        snap.snap.config.upstreams.get(upstream),
        snap.upstreams.get(upstream),
        snap.snap.config.routes.get(route),
    ) else {
        return down.fail(ctx, 502, out).await;
    };
    let replayable = p.body == BodyKind::None && p.idempotent;
    let head_len = out.len();
    let mut fresh_only = false;
    loop {
        let (mut up, reused) = match acquire(ctx, ust, ucfg, fresh_only, replayable).await {
            Ok(c) => c,
            Err(e) => return down.fail(ctx, e.status(), out).await,
        };
        out.truncate(head_len);
        match exchange(
            ctx,
            snap,
            down,
            p,
            &mut up,
            out,
            route_cfg,
            ucfg.response_timeout,
            ucfg.read_timeout,
        )
        .await
        {
            Ok(Outcome { next, reusable }) => {
                if matches!(next, Next::Upgrade) {
                    return Next::Tunnel(up);
                }
                if reusable {
                    release(ctx, up);
                }
                return next;
            }
            Err(Failure::Retry) if reused && replayable && !fresh_only => {
                ctx.metrics.upstream_retries.increment(1);
                fresh_only = true;
            }
            Err(Failure::Retry) => return down.fail(ctx, 502, out).await,
            Err(Failure::Status(s)) => return down.fail(ctx, s, out).await,
            Err(Failure::Close) => return Next::Close,
        }
    }
}

/// What `respond` reserves in front of the upstream response head. Heads
/// the gateway rewrites rarely grow by more than this (it removes hop-by-hop
/// fields; a route may add a few); a longer one takes the copying path.
const HEAD_ROOM: usize = 512;

/// Appends to `out` (the client-bound head) the body bytes that came with the
/// upstream head, as many as fit without growing `out`.
fn head_and_body_from_out(
    ctx: &ShardCtx,
    out: &mut Vec<u8>,
    ubuf: &[u8],
    upos: &mut usize,
    body: &mut BodyState,
) -> Result<(), Failure> {
    // A first chunk larger than the head buffer's room would go out in two
    // writes; moving the head into a streaming buffer saves a send.
    let waiting = ubuf.len().saturating_sub(*upos);
    if waiting > out.capacity().saturating_sub(out.len())
        && out.capacity() < ctx.stream_buffers.buffer_size()
    {
        let mut big = ctx.stream_buffers.take();
        big.extend_from_slice(out);
        std::mem::swap(out, &mut big);
        ctx.give_buffer(big);
    }
    // Only as much as fits: `out` must not grow (a reallocation per request, and
    // a buffer the pool no longer takes back). The rest streams from `ubuf`.
    let fits = (*upos + out.capacity().saturating_sub(out.len())).min(ubuf.len());
    let n = body
        .advance_into(ubuf.get(*upos..fits).unwrap_or_default(), out)
        .map_err(|_| Failure::Status(502))?;
    *upos += n;
    Ok(())
}

struct Outcome {
    next: Next,
    reusable: bool,
}

#[allow(clippy::too_many_arguments)]
async fn exchange<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    up: &mut UpConn,
    out: &mut Vec<u8>,
    route: &shardgate_config::RouteConfig,
    response_timeout: std::time::Duration,
    read_timeout: std::time::Duration,
) -> Result<Outcome, Failure> {
    let scfg = &snap.snap.config.server;
    let send = scfg.timeouts.send;
    // 1. Request head, plus the body bytes that arrived with it.
    let mut req_body = BodyState::new(p.body);
    // As on the response side: only what fits in `out`'s spare capacity.
    let fits = (down.pos + out.capacity().saturating_sub(out.len())).min(down.buf.len());
    let n = req_body
        .advance(down.buf.get(down.pos..fits).unwrap_or_default())
        .map_err(|e| Failure::Status(e.status()))?;
    out.extend_from_slice(down.buf.get(down.pos..down.pos + n).unwrap_or_default());
    down.pos += n;
    if req_body.over_limit(scfg.limits.max_body_bytes, n as u64) {
        return Err(Failure::Status(413));
    }
    if p.expect_continue && !req_body.is_done() && n == 0 {
        let mut cont = ctx.buffers.take();
        cont.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        let r = write_all(&mut down.stream, &mut cont, send).await;
        ctx.buffers.give(cont);
        r.map_err(|_| Failure::Close)?;
    }
    if write_all(&mut up.stream, out, send).await.is_err() {
        return Err(Failure::Retry);
    }
    // 2. The rest of the request body.
    if !req_body.is_done() {
        let src = Source {
            stream: &mut down.stream,
            buf: &mut down.buf,
            pos: &mut down.pos,
            read_timeout: scfg.timeouts.body_read,
        };
        match pump(
            &mut req_body,
            src,
            Some(&mut up.stream),
            send,
            scfg.limits.max_body_bytes,
        )
        .await
        {
            Ok(_) => {}
            Err(BodyError::Src(IoFail::Timeout)) => return Err(Failure::Status(408)),
            Err(BodyError::SrcMalformed(e)) => return Err(Failure::Status(e.status())),
            Err(BodyError::TooLarge) => return Err(Failure::Status(413)),
            Err(BodyError::Src(_)) | Err(BodyError::SrcEof) => return Err(Failure::Close),
            Err(BodyError::Dst) => return Err(Failure::Status(502)),
        }
    }
    // 3. Response head (skipping past interim 1xx responses). The client-bound
    // head gets its own buffer: `out` must keep the request intact in case the
    // exchange is retried on a fresh connection.
    let mut ubuf = ctx.stream_buffers.take();
    let mut head = ctx.buffers.take();
    let result = respond(
        ctx,
        snap,
        down,
        p,
        up,
        &mut head,
        &mut ubuf,
        route,
        response_timeout,
        read_timeout,
    )
    .await;
    ctx.give_buffer(head);
    ctx.stream_buffers.give(ubuf);
    result
}

#[allow(clippy::too_many_arguments)]
async fn respond<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    up: &mut UpConn,
    out: &mut Vec<u8>,
    ubuf: &mut Vec<u8>,
    route: &shardgate_config::RouteConfig,
    response_timeout: std::time::Duration,
    read_timeout: std::time::Duration,
) -> Result<Outcome, Failure> {
    let scfg = &snap.snap.config.server;
    let send = scfg.timeouts.send;
    let limits = Limits {
        max_request_line: scfg.buffer_size,
        max_head_bytes: scfg.buffer_size,
        max_headers: shardgate_http::MAX_HEADERS,
    };
    let deadline = Instant::now() + response_timeout;
    // Room in front of the upstream head: the client-bound head is written
    // there, right before the body, so head and body leave in one send
    // without copying the body (see step 4).
    ubuf.clear();
    ubuf.resize(HEAD_ROOM, 0);
    let mut upos = HEAD_ROOM;
    let mut got_any = false;
    let meta = loop {
        let step = {
            let input = RespInput {
                data: ubuf.get(upos..).unwrap_or_default(),
                limits: &limits,
                route,
                request_was_head: p.is_head,
                request_upgrade: p.upgrade,
                client_http10: p.http10,
                client_keep_alive: p.keep_alive && !ctx.stopping(),
            };
            prepare_response(input, out)
        };
        match step {
            RespStep::Ready(m) if m.interim => {
                upos += m.head_len;
                if m.status != 100 && !p.http10 {
                    write_all(&mut down.stream, out, send)
                        .await
                        .map_err(|_| Failure::Close)?;
                }
                continue;
            }
            RespStep::Ready(m) => break m,
            RespStep::Invalid => return Err(Failure::Status(502)),
            RespStep::Partial => {}
        }
        if ubuf.len() == ubuf.capacity() {
            if upos == 0 {
                return Err(Failure::Status(502));
            }
            super::io::compact(ubuf, &mut upos);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match read_more(&mut up.stream, ubuf, left).await {
            Ok(0) if !got_any => return Err(Failure::Retry),
            Ok(0) => return Err(Failure::Status(502)),
            Ok(_) => got_any = true,
            Err(IoFail::Timeout) => return Err(Failure::Status(504)),
            Err(IoFail::Io) if !got_any => return Err(Failure::Retry),
            Err(IoFail::Io) => return Err(Failure::Status(502)),
        }
    };
    ctx.metrics.response(meta.status);
    upos += meta.head_len;
    if meta.switching {
        // Bytes the upstream sent after its 101 already belong to the new protocol.
        let leftover_up = ubuf.get(upos..).unwrap_or_default();
        out.extend_from_slice(leftover_up);
        write_all(&mut down.stream, out, send)
            .await
            .map_err(|_| Failure::Close)?;
        return Ok(Outcome {
            next: Next::Upgrade,
            reusable: false,
        });
    }
    // 4. Response head plus the body bytes that came with it, in one write.
    let mut body = match (p.is_head, meta.dechunk) {
        (true, _) => BodyState::Done,
        (false, true) => BodyState::dechunked(meta.body),
        (false, false) => BodyState::new(meta.body),
    };
    if matches!(body, BodyState::Dechunk(_)) || out.len() > upos {
        // The body is rewritten, or the new head is too long for the room in
        // front of it: head and first body bytes go out from `out`.
        head_and_body_from_out(ctx, out, ubuf, &mut upos, &mut body)?;
        write_all(&mut down.stream, out, send)
            .await
            .map_err(|_| Failure::Close)?;
    } else {
        // The new head replaces the tail of the (already parsed) upstream
        // head, ending where the body starts.
        let start = upos - out.len();
        if let Some(room) = ubuf.get_mut(start..upos) {
            room.copy_from_slice(out);
        }
        let n = body
            .advance(ubuf.get(upos..).unwrap_or_default())
            .map_err(|_| Failure::Status(502))?;
        upos += n;
        // From here on the client has (part of) a response: failures only close.
        write_range(&mut down.stream, ubuf, start, upos, send)
            .await
            .map_err(|_| Failure::Close)?;
    }
    if !body.is_done() {
        let src = Source {
            stream: &mut up.stream,
            buf: ubuf,
            pos: &mut upos,
            read_timeout,
        };
        if pump(&mut body, src, Some(&mut down.stream), send, 0)
            .await
            .is_err()
        {
            return Ok(Outcome {
                next: Next::Close,
                reusable: false,
            });
        }
    }
    let clean = upos >= ubuf.len();
    let reusable =
        meta.upstream_keep_alive && clean && meta.body != BodyKind::CloseDelimited && !p.upgrade;
    let next = if meta.client_keep_alive && p.keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    };
    Ok(Outcome { next, reusable })
}
