//! One HTTP/3 request through the lifecycle: the h3 head becomes a
//! [`RequestView`], then admit → route → (respond | select → send → receive)
//! → log, exactly the phases an HTTP/1.1 request goes through.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use h3::error::{Code, StreamError};
use h3::quic::SendStream;
use h3::server::RequestResolver;
use http::Request;
use shardgate_http::BodyKind;
use shardgate_proxy::{
    write_error_response_for, write_final_answer, write_limited_response, write_static_response,
    Error, ErrorKind, Limited, Reflected,
};

use super::forward;
use super::head::{expects_continue, h1_to_h3, validate};
use super::outgoing::{Forward, ReqBody};
use super::stream::{reset, send_failed, Stream};
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::context::Field;
use crate::lifecycle::{self, Decision, HeaderFields, RequestCtx, RequestView};
use crate::listeners::ListenerId;

/// Longest wait for the first DATA frame (or the end of the stream) of a
/// request without Content-Length, to learn whether it has a body.
pub(super) fn body_wait(snap: &ShardSnap) -> Duration {
    snap.snap.config.server.timeouts.body_read
}

/// What a request learns from its connection.
pub struct OnConnection {
    /// Still in early data: the handshake has not completed.
    pub early: bool,
    /// The TLS server name the client asked for (for the access log).
    pub sni: Option<Rc<str>>,
}

pub async fn serve(
    ctx: Rc<ShardCtx>,
    listener: ListenerId,
    client: SocketAddr,
    mut resolver: RequestResolver<h3_quinn::Connection, Bytes>,
    on: OnConnection,
) {
    // A stream whose HEADERS never complete is a slowloris: the same
    // `header_read` limit as an HTTP/1.1 head. The wait borrows the
    // resolver (h3's `resolve_request` would take it into the dropped
    // future) so the stream can then be reset with H3_REQUEST_REJECTED: the
    // request was not processed and may be sent again (RFC 9114 §4.1.1).
    // Dropped instead, quinn ended it with a FIN, which reads as a response
    // cut short.
    let header_read = ctx.snapshot().snap.config.server.timeouts.header_read;
    let started = std::time::Instant::now();
    let first = std::future::poll_fn(|cx| resolver.frame_stream.poll_next(cx));
    let frame = match monoio::time::timeout(header_read, first).await {
        Ok(f) => f,
        Err(_) => {
            SendStream::reset(
                &mut resolver.frame_stream,
                Code::H3_REQUEST_REJECTED.value(),
            );
            ctx.metrics.quic.stream_errors.increment(1);
            return;
        }
    };
    // Everything after the first frame lives in its own allocation. A
    // stream waiting for its HEADERS (up to `max_streams_per_connection` of
    // them per connection, for up to `header_read`) then holds only this
    // function's small state, ≈2 KB, not the ≈13 KB a whole request's
    // future needs: one allocation per request, on a path that already
    // makes several (quinn's stream, h3's frames, the task itself).
    let left = header_read.saturating_sub(started.elapsed());
    let resolving = async move { resolver.accept_with_frame(frame)?.resolve().await };
    Box::pin(answer(ctx, listener, client, resolving, on, left)).await;
}

/// The request from its first frame on: resolve the head, then run the
/// lifecycle and log. (`resolving` is h3's, whose types it does not export.)
async fn answer(
    ctx: Rc<ShardCtx>,
    listener: ListenerId,
    client: SocketAddr,
    resolving: impl std::future::Future<Output = Result<(Request<()>, Stream), StreamError>>,
    on: OnConnection,
    left: Duration,
) {
    // The HEADERS frame is whole, but resolving it can still wait: h3
    // answers an oversized head with 431 there, a write the client's flow
    // control may hold back. So it stays under what is left of the limit.
    let resolved = match monoio::time::timeout(left, resolving).await {
        Ok(r) => r,
        Err(_) => {
            ctx.metrics.quic.stream_errors.increment(1);
            return;
        }
    };
    let (req, mut stream) = match resolved {
        Ok(r) => r,
        Err(e) => {
            // h3 answered it already (431) or reset the stream
            // (H3_MESSAGE_ERROR for malformed pseudo-headers): count, no log
            // line per event.
            if !e.is_h3_no_error() {
                ctx.metrics.quic.stream_errors.increment(1);
            }
            return;
        }
    };
    // Under this request's own generation (for a listener a reload removed,
    // the last one that had it, while it drains).
    let Some((snap, pos)) = ctx.snapshot_for(listener) else {
        return;
    };
    let mut rq = RequestCtx::new(pos, client, Some("TLSv1.3"));
    rq.protocol = "HTTP/3";
    rq.log_enabled = snap.snap.config.access_log.is_some();
    if rq.log_enabled {
        rq.wall = std::time::SystemTime::now();
    }
    let mut out = ctx.buffers.take();
    handle(&ctx, &snap, &req, &mut stream, &mut rq, &mut out, on.early).await;
    ctx.give_buffer(out);
    if rq.log_enabled {
        if let Some(sni) = on.sni.as_deref() {
            rq.fields.put(Field::Sni, sni.as_bytes());
        }
    }
    // As on HTTP/1.1: malformed or over-limit requests refused before routing.
    let refused = rq.failure.is_some_and(|e| {
        matches!(
            e.kind(),
            ErrorKind::ClientMalformed { .. } | ErrorKind::BodyTooLarge
        )
    });
    if refused && rq.route.is_none() {
        ctx.metrics.client_errors.increment(1);
    }
    lifecycle::log::log(&ctx, &snap, &rq);
    if rq.fields.buf.capacity() > 0 {
        ctx.give_buffer(std::mem::take(&mut rq.fields.buf));
    }
}

async fn handle(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    req: &Request<()>,
    stream: &mut Stream,
    rq: &mut RequestCtx,
    out: &mut Vec<u8>,
    early: bool,
) {
    let cfg = &snap.snap.config;
    let declared = match validate(req) {
        Ok(n) => n,
        Err(_) => {
            // RFC 9114 §4.1.2: a malformed request is a stream error.
            reset(stream, Code::H3_MESSAGE_ERROR);
            ctx.metrics.quic.stream_errors.increment(1);
            rq.fail(Error::new(ErrorKind::ClientMalformed { status: 400 }));
            return;
        }
    };
    let is_head = req.method() == http::Method::HEAD;
    let expects = expects_continue(req.headers());
    // The head limits HTTP/1.1 applies (414, 431), on the equivalent
    // request line (`METHOD SP target SP HTTP/1.1`) and field count.
    let limits = &cfg.server.limits;
    let target_len = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let over = if req.method().as_str().len() + target_len + 10 > limits.max_request_line {
        Some(414)
    } else if req.headers().len() > limits.max_headers {
        Some(431)
    } else if expects.is_err() {
        Some(417)
    } else {
        None
    };
    if let Some(status) = over {
        // The answer does not depend on a body (RFC 9114 §4.1).
        stream.stop_sending(Code::H3_NO_ERROR);
        rq.fail(Error::new(ErrorKind::ClientMalformed { status }));
        respond_error(ctx, stream, rq, out, is_head).await;
        return;
    }
    // Whether a body follows: declared, or seen (the first DATA frame or the
    // end of the stream, which a body-less request sends with its HEADERS).
    let mut first = ctx.buffers.take();
    let body = match declared {
        // Length(0) still reads the stream: DATA after `content-length: 0`
        // is malformed like any other mismatch.
        Some(n) => ReqBody::Length(n),
        // A client that waits for a 100 sends no DATA to peek at (and it
        // sends the expectation only with a body, §10.1.1).
        None if expects == Ok(true) => ReqBody::Streamed,
        None => match forward::peek(stream, &mut first, body_wait(snap)).await {
            Ok(true) => ReqBody::Streamed,
            Ok(false) => ReqBody::None,
            Err(e) => {
                // 408 after `body_read` (a client that left gets nothing).
                stream.stop_sending(Code::H3_NO_ERROR);
                rq.fail(e);
                respond_error(ctx, stream, rq, out, is_head).await;
                ctx.give_buffer(first);
                return;
            }
        },
    };
    let method = req.method().as_str();
    // `:authority`, else Host (RFC 9114 §4.3.1); the router normalizes case,
    // port and a trailing dot as for HTTP/1.1's Host.
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get("host").and_then(|v| v.to_str().ok()));
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let id_header = if cfg.request_id.enabled {
        cfg.request_id.header.as_str()
    } else {
        ""
    };
    let field = |name: &str| {
        (!name.is_empty())
            .then(|| req.headers().get(name).map(|v| v.as_bytes()))
            .flatten()
    };
    let mut scratch = None;
    let normalized = lifecycle::view::normalize(ctx, &cfg.server, target, &mut scratch);
    let view = RequestView {
        method,
        host,
        target,
        normalized,
        body: match body {
            ReqBody::None => BodyKind::None,
            ReqBody::Length(n) => BodyKind::Length(n),
            ReqBody::Streamed => BodyKind::Chunked,
        },
        protocol: "HTTP/3",
        // Two id fields name no one id: replaced by a generated one, as
        // on HTTP/1.1.
        request_id: field(id_header).map(|v| {
            if req.headers().get_all(id_header).iter().nth(1).is_some() {
                &b""[..]
            } else {
                v
            }
        }),
        user_agent: field("user-agent"),
        referer: field("referer"),
        headers: HeaderFields::H3(req.headers()),
    };
    let decision = lifecycle::enter(ctx, snap, rq, &view).and_then(|d| {
        if early && !shardgate_proxy::is_safe(method) {
            // Early data can be replayed by an attacker: only safe methods
            // may use it (RFC 8470 §3); the client repeats this after the
            // handshake.
            Err(Error::new(ErrorKind::TooEarly))
        } else {
            Ok(d)
        }
    });
    match decision {
        Err(e) => {
            rq.fail(e);
            respond_error(ctx, stream, rq, out, is_head).await;
        }
        Ok(Decision::Respond(route, resp)) => {
            if !body.is_empty() {
                // The answer does not depend on the body (RFC 9114 §4.1).
                stream.stop_sending(Code::H3_NO_ERROR);
            }
            out.clear();
            ctx.date_bytes(|date| {
                write_static_response(out, resp, &route.response_headers, true, is_head, date)
            });
            send_local(ctx, stream, rq, out, is_head).await;
        }
        Ok(Decision::Limited(route, refusal)) => {
            if !body.is_empty() {
                stream.stop_sending(Code::H3_NO_ERROR);
            }
            out.clear();
            let limited = Limited {
                route: &route.name,
                rules: &route.rate_limits,
                rule: refusal.rule,
                retry_after: refusal.retry_after,
            };
            ctx.date_bytes(|date| write_limited_response(out, &limited, true, is_head, date));
            send_local(ctx, stream, rq, out, is_head).await;
        }
        Ok(Decision::Final(route, answer)) => {
            if !body.is_empty() {
                stream.stop_sending(Code::H3_NO_ERROR);
            }
            out.clear();
            // `message/http` has no HTTP/3 syntax: the reflection reads as
            // the HTTP/1.1 request the gateway would have forwarded, Host
            // from `:authority`.
            let fields = |f: &mut dyn FnMut(&[u8], &[u8])| {
                if let Some(h) = host.filter(|_| !req.headers().contains_key("host")) {
                    f(b"host", h.as_bytes());
                }
                view.headers.each(f);
            };
            let request = Reflected {
                method,
                target,
                version: "HTTP/1.1",
                fields: &fields,
            };
            let edits = &route.response_headers;
            ctx.date_bytes(|date| write_final_answer(out, answer, &request, edits, true, date));
            send_local(ctx, stream, rq, out, is_head).await;
        }
        Ok(Decision::Proxy(route, upstream)) => {
            let f = Forward {
                req,
                target: view.forwarded_target(),
                route,
                upstream,
                body,
                first: &mut first,
                id_header,
                early,
                expect_continue: expects == Ok(true),
            };
            if let Err(e) = forward::proxy(ctx, snap, stream, f, rq, out).await {
                rq.fail(e);
                if matches!(e.kind(), ErrorKind::ClientMalformed { .. }) {
                    // The stream was reset with H3_MESSAGE_ERROR already.
                } else if !rq.response_started {
                    respond_error(ctx, stream, rq, out, is_head).await;
                } else if e.side() == shardgate_proxy::Side::Downstream {
                    // The client cancelled or stopped reading: its request
                    // is cancelled (RFC 9114 §4.1.1), not a server fault.
                    reset(stream, Code::H3_REQUEST_CANCELLED);
                } else {
                    reset(stream, Code::H3_INTERNAL_ERROR);
                }
            }
        }
    }
    ctx.give_buffer(first);
    if let Some(buf) = scratch {
        ctx.give_buffer(buf);
    }
}

/// Sends a complete response written as HTTP/1.1 bytes (head and body),
/// then ends the stream.
pub(super) async fn send_h1(
    stream: &mut Stream,
    h1: &[u8],
    rq: &mut RequestCtx,
) -> Result<(), Error> {
    let (res, len) = h1_to_h3(h1).ok_or(Error::new(ErrorKind::Internal))?;
    let status = res.status().as_u16();
    stream.send_response(res).await.map_err(send_failed)?;
    rq.responded(status, len);
    if let Some(body) = h1.get(len..).filter(|b| !b.is_empty()) {
        stream
            .send_data(Bytes::copy_from_slice(body))
            .await
            .map_err(send_failed)?;
        rq.bytes_out += body.len() as u64;
    }
    stream.finish().await.map_err(send_failed)
}

/// The gateway's own error answer for the recorded failure (nothing for a
/// client that left).
async fn respond_error(
    ctx: &ShardCtx,
    stream: &mut Stream,
    rq: &mut RequestCtx,
    out: &mut Vec<u8>,
    is_head: bool,
) {
    let status = rq.final_status();
    if status == 499 {
        // The client reset its request or left: end both directions with
        // H3_REQUEST_CANCELLED rather than an empty FIN (RFC 9114 §4.1.1).
        reset(stream, Code::H3_REQUEST_CANCELLED);
        return;
    }
    if status == 0 {
        return;
    }
    out.clear();
    ctx.date_bytes(|date| write_error_response_for(out, status, true, is_head, date));
    if let Err(e) = send_h1(stream, out, rq).await {
        if e.kind() == ErrorKind::ResponseTooLarge {
            // Even a bare error head is over the client's limit: nothing
            // can answer, and a clean end would read as a whole response.
            reset(stream, Code::H3_INTERNAL_ERROR);
        }
        // Otherwise the client left.
    }
}

/// Sends the gateway's own complete answer, written in `out`. One whose
/// head is over the client's SETTINGS_MAX_FIELD_SECTION_SIZE (a route's
/// large response headers) becomes a bare error answer instead (502, or
/// the refusal's own status).
async fn send_local(
    ctx: &ShardCtx,
    stream: &mut Stream,
    rq: &mut RequestCtx,
    out: &mut Vec<u8>,
    is_head: bool,
) {
    if let Err(e) = send_h1(stream, out, rq).await {
        rq.fail(e);
        if e.kind() == ErrorKind::ResponseTooLarge {
            respond_error(ctx, stream, rq, out, is_head).await;
        }
    }
}
