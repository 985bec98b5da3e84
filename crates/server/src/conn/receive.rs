//! The receive phase for HTTP/1.1: the upstream's response head (skipping
//! interim 1xx), rewritten for the client and sent with the first body bytes
//! in one write, then the body streamed. A final head whose status the
//! route retries on is dropped instead, when the retry rule lets the request
//! go again (nothing of it reaches the client).

use std::time::Instant;

use shardgate_http::{BodyKind, Limits};
use shardgate_proxy::{Error, ErrorKind};

use super::body::{BodyState, Direction};
use super::downstream::{Downstream, Next};
use super::io::{read_more_until, write_all, write_range, Io, IoFail};
use super::pump::{pump, Source, Splicer};
use super::request::Prepared;
use super::response::{prepare_response, RespInput, RespStep};
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{Attempts, RequestCtx};
use crate::upstream::UpConn;

const HEAD_ROOM: usize = 512;

/// Appends to `out` (the client-bound head) the body bytes that came with the
/// upstream head, as many as fit without growing `out`.
fn head_and_body_from_out(
    ctx: &ShardCtx,
    out: &mut Vec<u8>,
    ubuf: &[u8],
    upos: &mut usize,
    body: &mut BodyState,
) -> Result<(), Error> {
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
        .map_err(|_| Error::new(ErrorKind::UpstreamMalformed))?;
    *upos += n;
    Ok(())
}

/// Reading an upstream response head: how long, and whether a failure
/// before its first byte leaves the request safe to send again.
pub struct HeadRead {
    pub deadline: Instant,
    pub replayable: bool,
}

impl HeadRead {
    /// One more read of the head into `ubuf` (moving unparsed bytes to the
    /// front when it is full). A close or error before any byte came back
    /// leaves resending safe for a replayable request.
    pub async fn more(
        &self,
        up: &mut UpConn,
        ubuf: &mut Vec<u8>,
        upos: &mut usize,
        got_any: &mut bool,
        rq: &mut RequestCtx,
    ) -> Result<(), Error> {
        if ubuf.len() == ubuf.capacity() {
            if *upos == 0 {
                return Err(Error::new(ErrorKind::UpstreamMalformed));
            }
            super::io::compact(ubuf, upos);
        }
        let replayable = self.replayable;
        match read_more_until(&mut up.stream, ubuf, self.deadline).await {
            Ok(0) if !*got_any => Err(Error::after_send(ErrorKind::UpstreamReset, replayable)),
            Ok(0) => Err(Error::new(ErrorKind::UpstreamReset)),
            Ok(_) => {
                *got_any = true;
                rq.mark_first_byte();
                Ok(())
            }
            Err(IoFail::Timeout) => Err(Error::new(ErrorKind::UpstreamTimeout)),
            Err(f) if !*got_any => {
                Err(Error::after_send(ErrorKind::UpstreamReset, replayable).with_errno(f.errno()))
            }
            Err(f) => Err(Error::new(ErrorKind::UpstreamReset).with_errno(f.errno())),
        }
    }
}

pub enum Outcome {
    /// The response went to the client.
    Sent {
        next: Next,
        /// The upstream connection may go back to the pool.
        reusable: bool,
    },
    /// The response head asked for a retry and the rule granted it: the
    /// response is dropped with its connection (draining a body of unknown
    /// size to save a connect is not worth it on a failure path).
    Retry,
}

/// `request`: the request as sent (its head first; an upgrade's 101 is checked
/// against the protocols it offered). `replayable`: the request may be sent
/// again whole (idempotent, body none or kept), for the retry rule.
#[allow(clippy::too_many_arguments)]
pub async fn receive<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    request: &[u8],
    up: &mut UpConn,
    out: &mut Vec<u8>,
    ubuf: &mut Vec<u8>,
    plan: &mut Attempts<'_>,
    replayable: bool,
    rq: &mut RequestCtx,
) -> Result<Outcome, Error> {
    let scfg = &snap.snap.config.server;
    let route = rq
        .route
        .and_then(|r| snap.snap.config.routes.get(r))
        .ok_or(Error::new(ErrorKind::Internal))?;
    let client_gone = |f: IoFail| Error::new(ErrorKind::ClientClosed).with_errno(f.errno());
    let send = scfg.timeouts.send;
    let limits = Limits {
        max_request_line: scfg.buffer_size,
        max_head_bytes: scfg.buffer_size,
        max_headers: shardgate_http::MAX_HEADERS,
    };
    let deadline = Instant::now() + plan.timeouts.response;
    // Room in front of the upstream head: the client-bound head is written
    // there, right before the body, so head and body leave in one send
    // without copying the body (see step 4).
    ubuf.clear();
    ubuf.resize(HEAD_ROOM, 0);
    let mut upos = HEAD_ROOM;
    let mut got_any = false;
    let meta = loop {
        let step = if upos >= ubuf.len() {
            // Nothing read yet (or since the last interim head): no parse.
            RespStep::Partial
        } else {
            let input = RespInput {
                data: ubuf.get(upos..).unwrap_or_default(),
                limits: &limits,
                route,
                request_was_head: p.is_head,
                request_upgrade: if p.upgrade {
                    shardgate_proxy::offered_upgrade(request)
                } else {
                    None
                },
                client_http10: p.http10,
                client_keep_alive: p.keep_alive && !down.draining(ctx) && !ctx.retiring(),
                date: &|out: &mut Vec<u8>| ctx.date_bytes(|d| out.extend_from_slice(d)),
            };
            prepare_response(input, out)
        };
        match step {
            RespStep::Ready(m) if m.interim => {
                upos += m.head_len;
                if m.status != 100 && !p.http10 {
                    write_all(&mut down.stream, out, send)
                        .await
                        .map_err(client_gone)?;
                    rq.bytes_out += out.len() as u64;
                }
                continue;
            }
            RespStep::Ready(m) => {
                up.answered(m.status);
                // The origin answered: its server's health hears of it,
                // whether the answer is kept or dropped for a retry.
                plan.answered(up, m.status);
                if plan.retry_status(rq, m.status, replayable) {
                    return Ok(Outcome::Retry);
                }
                if let Some(v) = snap.snap.alt_svc(rq.listener) {
                    shardgate_proxy::put_alt_svc(out, v);
                }
                break m;
            }
            RespStep::Invalid => return Err(Error::new(ErrorKind::UpstreamMalformed)),
            RespStep::Partial => {}
        }
        let head = HeadRead {
            deadline,
            replayable,
        };
        head.more(up, ubuf, &mut upos, &mut got_any, rq).await?;
    };
    upos += meta.head_len;
    if !meta.upstream_keep_alive || meta.body == BodyKind::CloseDelimited || meta.switching {
        // The origin will not take another request on it: never pooled.
        up.drain();
    }
    if meta.switching {
        // Bytes the upstream sent after its 101 already belong to the new protocol.
        let leftover_up = ubuf.get(upos..).unwrap_or_default();
        out.extend_from_slice(leftover_up);
        write_all(&mut down.stream, out, send)
            .await
            .map_err(client_gone)?;
        rq.responded(meta.status, out.len());
        return Ok(Outcome::Sent {
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
            .map_err(client_gone)?;
        rq.responded(meta.status, out.len());
    } else {
        // The new head replaces the tail of the (already parsed) upstream
        // head, ending where the body starts.
        let start = upos - out.len();
        let head_len = out.len();
        if let Some(room) = ubuf.get_mut(start..upos) {
            room.copy_from_slice(out);
        }
        let n = body
            .advance(ubuf.get(upos..).unwrap_or_default())
            .map_err(|_| Error::new(ErrorKind::UpstreamMalformed))?;
        upos += n;
        write_range(&mut down.stream, ubuf, start, upos, send)
            .await
            .map_err(client_gone)?;
        rq.responded(meta.status, head_len);
        rq.bytes_out += (upos - start - head_len) as u64;
    }
    // From here on the client has (part of) a response: failures are
    // recorded for the log and only close.
    let mut overrun = false;
    if !body.is_done() {
        let src = Source {
            stream: &mut up.stream,
            buf: ubuf,
            pos: &mut upos,
            read_timeout: plan.timeouts.read,
        };
        let splicer = Splicer {
            pipes: &ctx.pipes,
            bytes: &ctx.metrics.spliced_bytes,
        };
        let pumped = pump(
            &mut body,
            src,
            Some(&mut down.stream),
            send,
            0,
            Direction::Response,
            None,
            scfg.splice.then_some(splicer),
        )
        .await;
        // What reached the client, also when the body then failed.
        rq.bytes_out += pumped.delivered;
        overrun = pumped.overrun;
        if let Err(e) = pumped.result {
            rq.fail(e);
            return Ok(Outcome::Sent {
                next: Next::Close,
                reusable: false,
            });
        }
    }
    // Bytes past the body (in the buffer, or taken by a splice) mean the
    // origin's framing cannot be trusted for another request.
    let clean = upos >= ubuf.len() && !overrun;
    let reusable =
        meta.upstream_keep_alive && clean && meta.body != BodyKind::CloseDelimited && !p.upgrade;
    let next = if meta.client_keep_alive && p.keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    };
    Ok(Outcome::Sent { next, reusable })
}
