//! The select and send phases of an HTTP/3 request, to an HTTP/1.1
//! upstream, attempt after attempt as the retry rule allows: the head
//! written by the same writer as HTTP/1.1's, the body streamed by
//! [`Upload`]; `receive` brings the answer back (or drops a head whose
//! status the route retries on).

use std::time::Duration;

use bytes::Buf;
use shardgate_proxy::{write_upstream_request, Error, ErrorKind, ForwardCtx, Framing};

use super::head::{h1_fields, joined_cookie};
use super::outgoing::{Forward, ReqBody};
use super::receive::Received;
use super::stream::{client_gone, Stream};
use super::upload::Upload;
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{select, within, Attempts, RequestCtx};
use crate::upstream::{release, UpConn};

/// Waits for the first DATA frame (copied into `first`) or the end of the
/// request stream. `true`: a body follows.
pub async fn peek(stream: &mut Stream, first: &mut Vec<u8>, wait: Duration) -> Result<bool, Error> {
    match monoio::time::timeout(wait, stream.recv_data()).await {
        Err(_) => Err(Error::new(ErrorKind::ClientTimeout)),
        Ok(Err(e)) => Err(client_gone(e)),
        Ok(Ok(None)) => Ok(false),
        Ok(Ok(Some(mut data))) => {
            while data.has_remaining() {
                let c = data.chunk();
                first.extend_from_slice(c);
                let n = c.len();
                data.advance(n);
            }
            Ok(true)
        }
    }
}

pub async fn proxy(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    stream: &mut Stream,
    f: Forward<'_>,
    rq: &mut RequestCtx,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let (Some(ucfg), Some(ust)) = (
        snap.snap.config.upstreams.get(f.upstream),
        snap.upstreams.get(f.upstream),
    ) else {
        return Err(Error::new(ErrorKind::Internal));
    };
    let method = f.req.method().as_str();
    let framing = match f.body {
        ReqBody::None => Framing::None,
        ReqBody::Length(n) => Framing::Length(n),
        ReqBody::Streamed => Framing::Chunked,
    };
    let cookie = joined_cookie(f.req.headers());
    let mut fields = Vec::with_capacity(f.req.headers().len() + 1);
    h1_fields(f.req.headers(), cookie.as_deref(), &mut fields);
    // RFC 8470 §5.1: an intermediary forwarding a request that came in
    // early data adds `Early-Data: 1` (the origin may answer 425).
    if f.early && !f.req.headers().contains_key("early-data") {
        fields.push(httparse::Header {
            name: "early-data",
            value: b"1",
        });
    }
    let host = f
        .req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| f.req.headers().get("host").and_then(|v| v.to_str().ok()));
    let fctx = ForwardCtx {
        client_ip: rq.client.ip(),
        scheme: "https",
        host,
        route: f.route,
        request_id: rq
            .request_id
            .is_generated
            .then(|| (f.id_header.as_bytes(), rq.request_id.generated())),
        via: shardgate_proxy::VIA_HTTP3,
    };
    out.clear();
    write_upstream_request(out, method, f.target, &fields, &fctx, framing, None);
    drop(fields);
    let idempotent = shardgate_proxy::is_idempotent(method);
    let mut plan = Attempts::new(f.route, ucfg, ust, idempotent);
    // Over the upstream's adaptive limit: shed before anything is sent.
    plan.admit()?;
    let mut upload = Upload::new(&f, plan.buffer_body(), || ctx.stream_buffers.take());
    let head_len = out.len();
    let result = loop {
        let replayable = plan.idempotent && upload.replay.intact();
        let mut up = match select(rq, ust, ucfg, &ctx.rng, &plan, replayable).await {
            Ok(c) => c,
            Err(e) if plan.retry_after_select(rq, &e, upload.resendable()) => continue,
            Err(e) => break Err(e),
        };
        // A write that lost `out` failed with a timeout, never retried.
        out.truncate(head_len);
        let left = plan.remaining();
        // Awaited where it is built unless a total timeout applies (see
        // conn/forward.rs).
        let exchanged = match left {
            None => {
                exchange(
                    ctx,
                    snap,
                    stream,
                    &f,
                    &mut up,
                    out,
                    rq,
                    &mut upload,
                    &mut plan,
                )
                .await
            }
            Some(_) => {
                within(
                    left,
                    exchange(
                        ctx,
                        snap,
                        stream,
                        &f,
                        &mut up,
                        out,
                        rq,
                        &mut upload,
                        &mut plan,
                    ),
                )
                .await
            }
        };
        match exchanged {
            Ok(Received::Done { reusable }) => {
                if reusable {
                    release(up, &ctx.rng);
                }
                break Ok(());
            }
            // Dropped at its head (counted there); the connection closes.
            Ok(Received::Retry) => continue,
            Err(e) if plan.retry_after(rq, &e, upload.resendable(), &ctx.rng) => continue,
            Err(e) => break Err(e),
        }
    };
    let kept = upload.replay.into_buffer();
    if kept.capacity() > 0 {
        ctx.give_buffer(kept);
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn exchange(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    stream: &mut Stream,
    f: &Forward<'_>,
    up: &mut UpConn,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
    upload: &mut Upload,
    plan: &mut Attempts<'_>,
) -> Result<Received, Error> {
    upload
        .send(ctx, snap, stream, f, up, out, rq, plan.idempotent)
        .await?;
    plan.sent();
    let replayable = plan.idempotent && upload.replay.intact();
    super::receive::receive(ctx, snap, stream, f, up, rq, plan, replayable).await
}
