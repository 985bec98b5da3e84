//! An HTTP/3 request's body going upstream, attempt after attempt: the head
//! and the first DATA frame's bytes in one write, then DATA frame by DATA
//! frame (re-framed as chunked when the client gave no length), never held
//! whole. With `[route.retry] buffer_body`, a copy of the body as sent is
//! kept ([`Replay`]): a retry sends the head and that copy, then goes on
//! with the client's stream.

use bytes::Buf;
use shardgate_proxy::{Error, ErrorKind};

use super::outgoing::{Forward, ReqBody};
use super::stream::{client_gone, send_failed, Stream};
use crate::conn::io::write_all;
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{BodyLen, Replay, RequestCtx};
use crate::upstream::UpConn;

/// The body's progress, carried from one attempt to the next.
pub struct Upload {
    /// Body bytes the client sent so far (the first DATA frame included),
    /// for the length checks.
    seen: u64,
    /// The client's body ended, and its end went upstream.
    done: bool,
    /// An attempt was sent (and may have taken body bytes from the client).
    started: bool,
    pub replay: Replay,
}

impl Upload {
    /// `limit`: the most body bytes to keep for a retry; `take` lends the
    /// buffer for them.
    pub fn new(f: &Forward<'_>, limit: usize, take: impl FnOnce() -> Vec<u8>) -> Self {
        let len = match f.body {
            ReqBody::None => BodyLen::None,
            ReqBody::Length(n) => BodyLen::Known(n),
            ReqBody::Streamed => BodyLen::Unknown,
        };
        Upload {
            seen: f.first.len() as u64,
            done: f.body == ReqBody::None,
            started: false,
            replay: Replay::new(len, limit, take),
        }
    }

    /// Everything taken from the client so far can be sent again.
    pub fn resendable(&self) -> bool {
        !self.started || self.replay.intact()
    }

    /// Sends the request whose head is in `out`: with the first body bytes
    /// in one write, or, on a retry, followed by the kept body; then the
    /// rest of the body.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &mut self,
        ctx: &ShardCtx,
        snap: &ShardSnap,
        stream: &mut Stream,
        f: &Forward<'_>,
        up: &mut UpConn,
        out: &mut Vec<u8>,
        rq: &mut RequestCtx,
        idempotent: bool,
    ) -> Result<(), Error> {
        let send = snap.snap.config.server.timeouts.send;
        let again = self.started;
        if !again {
            self.started = true;
            if f.expect_continue && !f.body.is_empty() && f.first.is_empty() {
                // As HTTP/1.1's: the go-ahead once an upstream is ready
                // to take the body; a retry does not repeat it.
                let mut go_on = http::Response::new(());
                *go_on.status_mut() = http::StatusCode::CONTINUE;
                stream.send_response(go_on).await.map_err(send_failed)?;
            }
            let head_len = out.len();
            put_body(out, f.first, f.body == ReqBody::Streamed);
            self.replay.keep(out.get(head_len..).unwrap_or_default());
            rq.bytes_in += f.first.len() as u64;
        }
        let replayable = |u: &Upload| idempotent && u.replay.intact();
        write_all(&mut up.stream, out, send)
            .await
            .map_err(|e| e.upstream_write(replayable(self)))?;
        if again && !self.replay.is_empty() {
            let r = write_all(&mut up.stream, self.replay.lend(), send).await;
            self.replay.returned();
            r.map_err(|e| e.upstream_write(replayable(self)))?;
        }
        if !self.done {
            let result = self.rest(ctx, snap, stream, f, up, rq, idempotent).await;
            if let Err(e) = &result {
                if matches!(e.kind(), ErrorKind::ClientMalformed { .. }) {
                    // RFC 9114 §4.1.2: a Content-Length that disagrees with
                    // the DATA makes the request malformed: a stream error,
                    // not a response.
                    super::stream::reset(stream, h3::error::Code::H3_MESSAGE_ERROR);
                    ctx.metrics.quic.stream_errors.increment(1);
                }
            }
            result?;
        }
        Ok(())
    }

    /// The rest of the request body, DATA frame by DATA frame; a
    /// Content-Length that disagrees with the DATA received is a malformed
    /// request (RFC 9114 §4.1.2), and so is a body over `max_body_bytes`.
    #[allow(clippy::too_many_arguments)]
    async fn rest(
        &mut self,
        ctx: &ShardCtx,
        snap: &ShardSnap,
        stream: &mut Stream,
        f: &Forward<'_>,
        up: &mut UpConn,
        rq: &mut RequestCtx,
        idempotent: bool,
    ) -> Result<(), Error> {
        let scfg = &snap.snap.config.server;
        let max = scfg.limits.max_body_bytes;
        let chunked = f.body == ReqBody::Streamed;
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
                self.seen += data.remaining() as u64;
                if matches!(f.body, ReqBody::Length(n) if self.seen > n) {
                    return Err(Error::new(ErrorKind::ClientMalformed { status: 400 }));
                }
                if max > 0 && self.seen > max {
                    return Err(Error::new(ErrorKind::BodyTooLarge));
                }
                while data.has_remaining() {
                    let c = data.chunk();
                    let room = buf.capacity().saturating_sub(buf.len() + 32).max(1);
                    let n = c.len().min(room);
                    buf.clear();
                    put_body(&mut buf, c.get(..n).unwrap_or_default(), chunked);
                    data.advance(n);
                    self.write(up, &mut buf, scfg.timeouts.send, idempotent)
                        .await?;
                    rq.bytes_in += n as u64;
                }
            }
            if matches!(f.body, ReqBody::Length(n) if self.seen != n) {
                return Err(Error::new(ErrorKind::ClientMalformed { status: 400 }));
            }
            if chunked {
                buf.clear();
                buf.extend_from_slice(b"0\r\n");
                let trailers = stream.recv_trailers().await.map_err(client_gone)?;
                if let Some(t) = trailers {
                    for (name, value) in &t {
                        // Fields a request may not end with are not forwarded.
                        if shardgate_http::forwardable_trailer(name.as_str().as_bytes()) {
                            buf.extend_from_slice(name.as_str().as_bytes());
                            buf.extend_from_slice(b": ");
                            buf.extend_from_slice(value.as_bytes());
                            buf.extend_from_slice(b"\r\n");
                        }
                    }
                }
                buf.extend_from_slice(b"\r\n");
                self.write(up, &mut buf, scfg.timeouts.send, idempotent)
                    .await?;
            }
            self.done = true;
            Ok(())
        }
        .await;
        ctx.give_buffer(buf);
        result
    }

    /// Writes body bytes taken from the client upstream, kept first.
    async fn write(
        &mut self,
        up: &mut UpConn,
        buf: &mut Vec<u8>,
        send: std::time::Duration,
        idempotent: bool,
    ) -> Result<(), Error> {
        self.replay.keep(buf);
        write_all(&mut up.stream, buf, send)
            .await
            .map_err(|e| e.upstream_write(idempotent && self.replay.intact()))
    }
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
