//! The receive phase of an HTTP/3 request: the HTTP/1.1 upstream's response
//! head (read with the HTTP/1.1 front end's `HeadRead`; interim answers but
//! a 100 forwarded first) converted and sent as HTTP/3 HEADERS, then the
//! body as DATA frames and a chunked body's trailers as a trailer section.

use std::time::{Duration, Instant};

use bytes::Bytes;
use shardgate_http::{BodyKind, ChunkedDecoder, Limits};
use shardgate_proxy::{Error, ErrorKind};

use super::head::h1_to_h3;
use super::outgoing::Forward;
use super::stream::{send_failed, Stream};
use crate::conn::io::{read_more, IoFail};
use crate::conn::receive::HeadRead;
use crate::conn::response::{prepare_response, RespInput, RespStep};
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{Attempts, RequestCtx};
use crate::upstream::UpConn;

pub enum Received {
    /// The response went to the client.
    Done {
        /// The upstream connection may be pooled again.
        reusable: bool,
    },
    /// The head's status asked for a retry and the rule granted it: the
    /// response is dropped with its connection.
    Retry,
}

/// The upstream's response head (1xx but 100 forwarded before it),
/// converted and sent, then the body as DATA frames; or a head the retry
/// rule drops. `replayable`:
/// the request may be sent again whole (idempotent, body none or kept).
#[allow(clippy::too_many_arguments)]
pub async fn receive(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    stream: &mut Stream,
    f: &Forward<'_>,
    up: &mut UpConn,
    rq: &mut RequestCtx,
    plan: &mut Attempts<'_>,
    replayable: bool,
) -> Result<Received, Error> {
    let scfg = &snap.snap.config.server;
    let is_head = f.req.method() == http::Method::HEAD;
    let limits = Limits {
        max_request_line: scfg.buffer_size,
        max_head_bytes: scfg.buffer_size,
        max_headers: shardgate_http::MAX_HEADERS,
    };
    let mut ubuf = ctx.stream_buffers.take();
    let mut head = ctx.buffers.take();
    // The client's STOP_SENDING (it cancelled the request, RFC 9114
    // §4.1.1) or the connection's end stops the wait for the head: nobody
    // would read the answer, and the origin connection is closed rather
    // than held until `response_timeout` (and the origin is not blamed).
    let mut stopped = stream.stopped();
    let result = async {
        let deadline = Instant::now() + plan.timeouts.response;
        let mut upos = 0usize;
        let mut got_any = false;
        let meta = loop {
            let step = prepare_response(
                RespInput {
                    data: ubuf.get(upos..).unwrap_or_default(),
                    limits: &limits,
                    route: f.route,
                    request_was_head: is_head,
                    request_upgrade: None,
                    client_http10: false,
                    client_keep_alive: true,
                    date: &|out: &mut Vec<u8>| ctx.date_bytes(|d| out.extend_from_slice(d)),
                },
                &mut head,
            );
            match step {
                // RFC 9110 §15.2: a proxy forwards 1xx responses (103
                // Early Hints, …) as interim HEADERS (RFC 9114 §4.1), but
                // not a 100: the gateway answers `expect` itself and strips
                // it, so an origin's 100 was not asked for.
                RespStep::Ready(m) if m.interim => {
                    upos += m.head_len;
                    if m.status != 100 {
                        let (res, len) = h1_to_h3(&head).ok_or(Error::new(ErrorKind::Internal))?;
                        match stream.send_response(res).await.map_err(send_failed) {
                            Ok(()) => rq.bytes_out += len as u64,
                            // Over the client's field-section limit: an
                            // interim answer is only a hint; the final one
                            // still goes.
                            Err(e) if e.kind() == ErrorKind::ResponseTooLarge => {}
                            Err(e) => return Err(e),
                        }
                    }
                    continue;
                }
                RespStep::Ready(m) => {
                    up.answered(m.status);
                    // The origin answered: its server's health hears of
                    // it, whether the answer is kept or dropped.
                    plan.answered(up, m.status);
                    if plan.retry_status(rq, m.status, replayable) {
                        return Ok(Received::Retry);
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
            let more = head.more(up, &mut ubuf, &mut upos, &mut got_any, rq);
            match stopped.as_mut() {
                Some(cancelled) => monoio::select! {
                    r = more => r?,
                    _ = cancelled => return Err(Error::new(ErrorKind::ClientClosed)),
                },
                None => more.await?,
            }
        };
        upos += meta.head_len;
        if !meta.upstream_keep_alive || meta.body == BodyKind::CloseDelimited {
            // The origin will not take another request on it: never pooled.
            up.drain();
        }
        let (res, len) = h1_to_h3(&head).ok_or(Error::new(ErrorKind::Internal))?;
        let status = res.status().as_u16();
        stream.send_response(res).await.map_err(send_failed)?;
        rq.responded(status, len);
        // From here a failure can only reset the stream.
        let body = if is_head { BodyKind::None } else { meta.body };
        let (clean, trailers) = relay_body(
            stream,
            up,
            &mut ubuf,
            upos,
            body,
            (plan.timeouts.read, scfg.timeouts.send),
            rq,
        )
        .await?;
        if let Some(t) = trailers.filter(|t| !t.is_empty()) {
            match stream.send_trailers(t).await.map_err(send_failed) {
                // A trailer section over the client's limit is dropped and
                // the response still ends cleanly: its body all arrived,
                // and a reset would read as a failed request that a client
                // might send again (ADR 25).
                Err(e) if e.kind() == ErrorKind::ResponseTooLarge => {}
                r => r?,
            }
        }
        stream.finish().await.map_err(send_failed)?;
        Ok(Received::Done {
            reusable: clean && meta.upstream_keep_alive && meta.body != BodyKind::CloseDelimited,
        })
    }
    .await;
    ctx.give_buffer(head);
    ctx.stream_buffers.give(ubuf);
    result
}

/// Streams the response body from `ubuf[upos..]` and the upstream socket to
/// the client as DATA frames. Returns whether the body ended exactly where
/// the upstream's bytes did (the connection can be reused), and a chunked
/// body's trailer fields.
async fn relay_body(
    stream: &mut Stream,
    up: &mut UpConn,
    ubuf: &mut Vec<u8>,
    mut upos: usize,
    body: BodyKind,
    (read_timeout, send_timeout): (Duration, Duration),
    rq: &mut RequestCtx,
) -> Result<(bool, Option<http::HeaderMap>), Error> {
    let mut remaining = match body {
        BodyKind::None => return Ok((upos >= ubuf.len(), None)),
        BodyKind::Length(n) => Some(n),
        BodyKind::Chunked | BodyKind::CloseDelimited => None,
    };
    let mut decoder = (body == BodyKind::Chunked).then(ChunkedDecoder::new);
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    // The trailer section's bytes (at most 16 KiB: the decoder's limit).
    let mut trailer_bytes: Vec<u8> = Vec::new();
    loop {
        let data = ubuf.get(upos..).unwrap_or_default();
        let mut done = false;
        let mut consumed = data.len();
        ranges.clear();
        if let Some(d) = decoder.as_mut() {
            let feed = d
                .feed_parts(
                    data,
                    |r| ranges.push(r),
                    |r| trailer_bytes.extend_from_slice(data.get(r).unwrap_or_default()),
                )
                .map_err(|_| Error::new(ErrorKind::UpstreamMalformed))?;
            consumed = feed.consumed;
            done = feed.done;
        } else if let Some(left) = remaining.as_mut() {
            let take = (*left).min(data.len() as u64) as usize;
            consumed = take;
            ranges.push(0..take);
            *left -= take as u64;
            done = *left == 0;
        } else if !data.is_empty() {
            ranges.push(0..data.len());
        }
        for r in ranges.drain(..) {
            let Some(bytes) = data.get(r) else { continue };
            if bytes.is_empty() {
                continue;
            }
            let n = bytes.len();
            match monoio::time::timeout(
                send_timeout,
                stream.send_data(Bytes::copy_from_slice(bytes)),
            )
            .await
            {
                Ok(Ok(())) => rq.bytes_out += n as u64,
                Ok(Err(e)) => return Err(send_failed(e)),
                Err(_) => return Err(Error::new(ErrorKind::ClientTimeout)),
            }
        }
        upos += consumed;
        if done {
            let trailers =
                (!trailer_bytes.is_empty()).then(|| super::head::trailer_map(&trailer_bytes));
            return Ok((upos >= ubuf.len(), trailers));
        }
        ubuf.clear();
        upos = 0;
        match read_more(&mut up.stream, ubuf, read_timeout).await {
            Ok(0) if remaining.is_none() && decoder.is_none() => return Ok((false, None)),
            Ok(0) => return Err(Error::new(ErrorKind::UpstreamReset)),
            Ok(_) => {}
            Err(IoFail::Timeout) => return Err(Error::new(ErrorKind::UpstreamTimeout)),
            Err(e) => return Err(Error::new(ErrorKind::UpstreamReset).with_errno(e.errno())),
        }
    }
}
