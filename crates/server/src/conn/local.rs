//! Answers from the gateway itself on an HTTP/1.1 connection: a route's
//! static response or 429, and the refusals that concern one request only
//! (no route, a flow-control limit), which leave the connection open.

use shardgate_http::BodyKind;
use shardgate_proxy::{write_error_response, Error, ErrorKind};

use super::body::{BodyState, Direction};
use super::downstream::{Downstream, Next};
use super::io::{write_all, Io};
use super::pump::{pump, Source};
use super::request::{keep_after_local, Prepared, DISCARD_LIMIT};
use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::RequestCtx;

/// Answers the refusal recorded in `rq`. No route (404) and a flow-control
/// limit (`Shed`: 503 or the configured status) say nothing about the
/// connection, so a request without a body keeps it open (as nginx does for
/// 404 and for `limit_conn`/`limit_req`): closing under a flood would turn
/// every cheap refusal into a new connection, and a new TLS handshake. Any
/// other failure closes.
pub(super) async fn refuse<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &mut Prepared,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
) -> Next {
    let Some(e) = rq.failure else {
        return Next::Close;
    };
    let complete = matches!(e.kind(), ErrorKind::NoRoute | ErrorKind::Shed { .. });
    // A body was not read: the connection cannot go on without reading it,
    // and a refused request is not worth reading a body for.
    let bodiless = p.body == BodyKind::None;
    if !complete || !bodiless || !keep_after_local(p, ctx.retiring()) || down.draining(ctx) {
        return down.fail(ctx, rq, out).await;
    }
    out.clear();
    ctx.date_bytes(|d| write_error_response(out, e.status(), true, d));
    finish_local(ctx, snap, down, p, out, rq).await
}

/// Answers from the gateway itself. The request body is read (and dropped)
/// first, so the next request on the connection is found and a body whose
/// framing is broken gets 400 instead of the route's answer, as nginx does.
pub(super) async fn finish_local<S: Io>(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    down: &mut Downstream<S>,
    p: &Prepared,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
) -> Next {
    let scfg = &snap.snap.config.server;
    let mut keep = p.keep_alive;
    let small = match p.body {
        BodyKind::Length(n) => n <= DISCARD_LIMIT,
        _ => true,
    };
    if p.body != BodyKind::None && (!small || p.expect_continue) {
        keep = false;
        down.unread = true;
    } else if p.body != BodyKind::None {
        let mut state = BodyState::new(p.body);
        let src = Source {
            stream: &mut down.stream,
            buf: &mut down.buf,
            pos: &mut down.pos,
            read_timeout: scfg.timeouts.body_read,
        };
        let drained = pump(
            &mut state,
            src,
            None::<&mut S>,
            scfg.timeouts.send,
            DISCARD_LIMIT,
            Direction::Request,
            None,
            None,
        )
        .await;
        match drained.result {
            Ok(()) => rq.bytes_in += drained.taken,
            // A chunked body longer than is worth draining: answer, then close.
            Err(e) if e.kind() == ErrorKind::BodyTooLarge => {
                keep = false;
                down.unread = true;
            }
            Err(e) => {
                rq.fail(e);
                return down.fail(ctx, rq, out).await;
            }
        }
    }
    let status = status_of(out);
    if write_all(&mut down.stream, out, scfg.timeouts.send)
        .await
        .is_err()
    {
        rq.fail(Error::new(ErrorKind::ClientClosed));
        return Next::Close;
    }
    rq.responded(status, out.len());
    if keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// The status code of a response head written into `out` ("HTTP/1.1 200 …").
fn status_of(out: &[u8]) -> u16 {
    out.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}
