//! One HTTP/1.1 request on a connection, from its first byte to its log
//! line: read the head under the header timeout, prepare it (parse, admit,
//! route, rewrite), answer or forward it, then the log phase.

use shardgate_http::Limits;
use shardgate_proxy::{Error, ErrorKind};

use super::downstream::{Downstream, Next};
use super::forward;
use super::io::{compact, read_more_until, Io, IoFail};
use super::local::{finish_local, refuse};
use super::request::{prepare, Action, Input, Step};
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::context::Field;
use crate::lifecycle::{log, RequestCtx};
use crate::listeners::ListenerId;

/// One request on `down`: the context, a pooled buffer for the outgoing
/// head, and the log phase at the end.
pub(crate) async fn serve_one<S: Io>(
    ctx: &ShardCtx,
    down: &mut Downstream<S>,
    listener: ListenerId,
) -> Next {
    // Its listener's position under this request's own generation; a
    // listener gone past its grace period serves nothing more.
    let Some((snap, pos)) = ctx.snapshot_for(listener) else {
        return Next::Close;
    };
    let mut rq = RequestCtx::new(pos, down.peer, down.tls.as_ref().map(|t| t.version));
    rq.log_enabled = snap.snap.config.access_log.is_some();
    if rq.log_enabled {
        rq.wall = std::time::SystemTime::now();
    }
    let mut out = ctx.buffers.take();
    let next = handle(ctx, &snap, down, &mut rq, &mut out).await;
    if rq
        .failure
        .is_some_and(|e| e.kind() == ErrorKind::ClientClosed)
    {
        // A client that stopped reading (the send timeout) or left: the
        // close is a reset, so its unsent response is dropped now instead
        // of held by the kernel in FIN-WAIT-1 (for TLS too: a client that
        // does not read takes no close_notify either).
        if let Some(fd) = down.stream.socket_fd() {
            let _ = shardgate_net::reset_on_close(fd);
        }
        // Nobody to linger for.
        down.unread = false;
        down.pos = down.buf.len();
    }
    // Malformed or over-limit requests refused before routing, counted
    // once here for every path (the parser, the head limits, admit), as
    // HTTP/3 counts them.
    if rq.route.is_none()
        && rq.failure.is_some_and(|e| {
            matches!(
                e.kind(),
                ErrorKind::ClientMalformed { .. } | ErrorKind::BodyTooLarge
            )
        })
    {
        ctx.metrics.client_errors.increment(1);
    }
    let mut ended = None;
    if !matches!(next, Next::Eof) {
        if rq.log_enabled {
            if let Some(sni) = down.tls.as_ref().and_then(|t| t.sni.as_deref()) {
                rq.fields.put(Field::Sni, sni.as_bytes());
            }
        }
        ended = Some(rq.started + log::log(ctx, &snap, &rq));
    }
    down.served(rq.started, ended);
    if rq.fields.buf.capacity() > 0 {
        ctx.give_buffer(std::mem::take(&mut rq.fields.buf));
    }
    ctx.buffers.give(out);
    next
}

async fn handle<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    rq: &mut RequestCtx,
    out: &mut Vec<u8>,
) -> Next {
    let scfg = &snap.snap.config.server;
    let limits = Limits {
        max_request_line: scfg.limits.max_request_line,
        max_head_bytes: scfg.limits.max_header_bytes,
        max_headers: scfg.limits.max_headers,
    };
    // The request's start was read from the clock a moment ago.
    let deadline = rq.started + scfg.timeouts.header_read;
    let mut prepared = loop {
        let input = Input {
            data: down.buf.get(down.pos..).unwrap_or_default(),
            limits: &limits,
        };
        match prepare(ctx, snap, input, out, rq) {
            Step::Ready(p) => break p,
            Step::Malformed(e) => {
                rq.bytes_in += (down.buf.len() - down.pos) as u64;
                rq.fail(e);
                return down.fail(ctx, rq, out).await;
            }
            Step::NewerMinor(at) => {
                // RFC 9110 §2.5: served as the highest HTTP/1 minor version
                // implemented, 1.1 (nginx and HAProxy do the same). The
                // digit is rewritten once, so this cannot come round again.
                if let Some(digit) = down.buf.get_mut(down.pos + at).filter(|d| **d > b'1') {
                    *digit = b'1';
                    continue;
                }
                rq.fail(Error::new(ErrorKind::ClientMalformed { status: 505 }));
                return down.fail(ctx, rq, out).await;
            }
            Step::Partial => {}
        }
        if down.buf.len() == down.buf.capacity() {
            if down.pos == 0 {
                rq.bytes_in += down.buf.len() as u64;
                rq.fail(Error::new(ErrorKind::ClientMalformed { status: 431 }));
                return down.fail(ctx, rq, out).await;
            }
            compact(&mut down.buf, &mut down.pos);
        }
        let had = down.buf.len() > down.pos;
        match read_more_until(&mut down.stream, &mut down.buf, deadline).await {
            Ok(0) if had => return client_gone(rq, down, None),
            Ok(0) => return Next::Eof,
            Ok(_) => {}
            Err(IoFail::Timeout) if had => {
                rq.fail(Error::new(ErrorKind::ClientTimeout));
                return down.fail(ctx, rq, out).await;
            }
            Err(f) if had => return client_gone(rq, down, f.errno()),
            Err(_) => return Next::Eof,
        }
    };
    down.pos += prepared.head_len;
    rq.bytes_in += prepared.head_len as u64;
    match prepared.action {
        Action::Reject => refuse(ctx, snap, down, &mut prepared, out, rq).await,
        Action::Respond => finish_local(ctx, snap, down, &prepared, out, rq).await,
        Action::Proxy { upstream } => {
            forward::proxy(ctx, snap, down, &prepared, upstream, rq, out).await
        }
    }
}

/// The client closed or reset in the middle of its request head.
fn client_gone<S>(rq: &mut RequestCtx, down: &Downstream<S>, errno: Option<i32>) -> Next {
    rq.bytes_in += (down.buf.len() - down.pos) as u64;
    rq.fail(Error::new(ErrorKind::ClientClosed).with_errno(errno));
    Next::Close
}
