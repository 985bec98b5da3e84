//! The select and send phases of an HTTP/3 request, to an HTTP/1.1
//! upstream: the head written by the same writer as HTTP/1.1's, the body
//! streamed (re-framed as chunked when the client gave no length), never
//! held whole; `receive` brings the answer back.

use std::time::Duration;

use bytes::Buf;
use shardgate_proxy::{write_upstream_request, Error, ErrorKind, ForwardCtx, Framing};

use super::head::h1_fields;
use super::outgoing::{Forward, ReqBody};
use super::stream::{client_gone, Stream};
use crate::conn::io::write_all;
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{retry_after, select, RequestCtx};
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
    let mut fields = Vec::with_capacity(f.req.headers().len());
    h1_fields(f.req.headers(), &mut fields);
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
    let target = f.req.uri().path_and_query().map_or("/", |p| p.as_str());
    write_upstream_request(out, method, target, &fields, &fctx, framing, None);
    drop(fields);
    let replayable = f.replayable();
    let head_len = out.len();
    loop {
        let mut up = select(rq, ust, ucfg, &ctx.rng, replayable).await?;
        out.truncate(head_len);
        match exchange(ctx, snap, stream, &f, &mut up, out, rq, ucfg).await {
            Ok(reusable) => {
                if reusable {
                    release(up, &ctx.rng);
                }
                return Ok(());
            }
            Err(e) if retry_after(rq, ust, &e, &ctx.rng) => continue,
            Err(e) => return Err(e),
        }
    }
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
    ucfg: &shardgate_config::UpstreamConfig,
) -> Result<bool, Error> {
    let scfg = &snap.snap.config.server;
    let send = scfg.timeouts.send;
    let replayable = f.replayable();
    // The head and the peeked body bytes in one write.
    let chunked = f.body == ReqBody::Streamed;
    put_body(out, f.first, chunked);
    write_all(&mut up.stream, out, send).await.map_err(|e| {
        Error::after_send(ErrorKind::UpstreamReset, replayable).with_errno(e.errno())
    })?;
    rq.bytes_in += f.first.len() as u64;
    if f.body != ReqBody::None {
        send_body(ctx, snap, stream, f, up, rq).await?;
    }
    super::receive::receive(ctx, snap, stream, f, up, rq, ucfg).await
}

/// Appends `data` to `out`, as one chunk when `chunked`.
fn put_body(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
    if data.is_empty() {
        return;
    }
    if chunked {
        put_hex(out, data.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

/// `n` in lower-case hex, without allocating.
fn put_hex(out: &mut Vec<u8>, n: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    let mut v = n;
    loop {
        i -= 1;
        tmp[i] = DIGITS[v & 0xf];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(tmp.get(i..).unwrap_or_default());
}

/// The rest of the request body, DATA frame by DATA frame; a Content-Length
/// that disagrees with the DATA received is a malformed request (RFC 9114
/// §4.1.2), and so is a body over `max_body_bytes`.
async fn send_body(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    stream: &mut Stream,
    f: &Forward<'_>,
    up: &mut UpConn,
    rq: &mut RequestCtx,
) -> Result<(), Error> {
    let scfg = &snap.snap.config.server;
    let max = scfg.limits.max_body_bytes;
    let chunked = f.body == ReqBody::Streamed;
    let mut seen = f.first.len() as u64;
    let mut buf = ctx.stream_buffers.take();
    let result = async {
        loop {
            let next = monoio::time::timeout(scfg.timeouts.body_read, stream.recv_data()).await;
            let mut data = match next {
                Err(_) => return Err(Error::new(ErrorKind::ClientTimeout)),
                Ok(Err(e)) => return Err(client_gone(e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(d))) => d,
            };
            seen += data.remaining() as u64;
            if matches!(f.body, ReqBody::Length(n) if seen > n) {
                return Err(Error::new(ErrorKind::ClientMalformed { status: 400 }));
            }
            if max > 0 && seen > max {
                return Err(Error::new(ErrorKind::BodyTooLarge));
            }
            while data.has_remaining() {
                let c = data.chunk();
                let room = buf.capacity().saturating_sub(buf.len() + 32).max(1);
                let n = c.len().min(room);
                buf.clear();
                put_body(&mut buf, c.get(..n).unwrap_or_default(), chunked);
                data.advance(n);
                write_all(&mut up.stream, &mut buf, scfg.timeouts.send)
                    .await
                    .map_err(|e| Error::new(ErrorKind::UpstreamReset).with_errno(e.errno()))?;
                rq.bytes_in += n as u64;
            }
        }
        if matches!(f.body, ReqBody::Length(n) if seen != n) {
            return Err(Error::new(ErrorKind::ClientMalformed { status: 400 }));
        }
        if chunked {
            buf.clear();
            buf.extend_from_slice(b"0\r\n");
            let trailers = stream.recv_trailers().await.map_err(client_gone)?;
            if let Some(t) = trailers {
                for (name, value) in &t {
                    // Fields a request may not end with are not forwarded.
                    if super::head::forwardable_trailer(name.as_str()) {
                        buf.extend_from_slice(name.as_str().as_bytes());
                        buf.extend_from_slice(b": ");
                        buf.extend_from_slice(value.as_bytes());
                        buf.extend_from_slice(b"\r\n");
                    }
                }
            }
            buf.extend_from_slice(b"\r\n");
            write_all(&mut up.stream, &mut buf, scfg.timeouts.send)
                .await
                .map_err(|e| Error::new(ErrorKind::UpstreamReset).with_errno(e.errno()))?;
        }
        Ok(())
    }
    .await;
    ctx.give_buffer(buf);
    if let Err(e) = &result {
        if matches!(e.kind(), ErrorKind::ClientMalformed { .. }) {
            // RFC 9114 §4.1.2: a Content-Length that disagrees with the DATA
            // makes the request malformed: a stream error, not a response.
            super::stream::reset(stream, h3::error::Code::H3_MESSAGE_ERROR);
            ctx.metrics.quic.stream_errors.increment(1);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_in_lower_case_hex() {
        let mut out = Vec::new();
        put_body(&mut out, &[b'x'; 26], true);
        assert_eq!(out, [b"1a\r\n".as_slice(), &[b'x'; 26], b"\r\n"].concat());
        for (n, want) in [(0usize, "0"), (15, "f"), (16, "10"), (65_536, "10000")] {
            let mut o = Vec::new();
            put_hex(&mut o, n);
            assert_eq!(o, want.as_bytes(), "{n}");
        }
        let mut plain = Vec::new();
        put_body(&mut plain, b"abc", false);
        assert_eq!(plain, b"abc");
    }
}
