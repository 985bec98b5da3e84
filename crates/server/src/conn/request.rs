//! The HTTP/1.1 front end's part of a request head, done synchronously while
//! the head is still borrowed from the read buffer: parse, enter the
//! lifecycle's admit and route phases, and write the outgoing head (the
//! upstream request or the whole static response) into a pooled buffer. What
//! the async part needs afterwards is copied into [`Prepared`], which borrows
//! nothing.

use shardgate_http::{parse_request, BodyKind, HeaderStore, Limits, Parsed};
use shardgate_proxy::{
    write_final_answer, write_limited_response, write_static_response, write_upstream_request,
    Error, ErrorKind, ForwardCtx, Framing, Limited, Reflected,
};

use crate::ctx::{ShardCtx, ShardSnap};
use crate::lifecycle::{self, Decision, HeaderFields, RequestCtx, RequestView};

/// Static responses discard a request body up to this size; a larger one closes
/// the connection instead of reading it all.
pub const DISCARD_LIMIT: u64 = 1 << 20;

#[derive(Clone, Copy)]
pub enum Action {
    /// `out` holds the complete static response.
    Respond,
    /// `out` holds the upstream request head; forward to this upstream index.
    Proxy { upstream: usize },
    /// Refused by a phase: the error is in the request context.
    Reject,
}

#[derive(Clone, Copy)]
pub struct Prepared {
    pub head_len: usize,
    pub body: BodyKind,
    pub keep_alive: bool,
    pub http10: bool,
    pub expect_continue: bool,
    pub upgrade: bool,
    pub is_head: bool,
    pub idempotent: bool,
    pub action: Action,
}

pub enum Step {
    Ready(Prepared),
    Partial,
    /// The head is malformed or over a limit: answer and close.
    Malformed(Error),
    /// An `HTTP/1.y` request line, `y` > 1, its minor digit at this offset
    /// of the input: to be served as HTTP/1.1 (RFC 9110 §2.5).
    NewerMinor(usize),
}

pub struct Input<'a> {
    pub data: &'a [u8],
    pub limits: &'a Limits,
}

pub fn prepare(
    ctx: &ShardCtx,
    snap: &ShardSnap,
    input: Input<'_>,
    out: &mut Vec<u8>,
    rq: &mut RequestCtx,
) -> Step {
    // Uninitialised slots: creating the store costs nothing.
    let mut store = HeaderStore::new();
    let head = match parse_request(input.data, input.limits, &mut store) {
        Ok(Parsed::Complete(h)) => h,
        Ok(Parsed::Partial) => return Step::Partial,
        Err(shardgate_http::Error::NewerMinorVersion { at }) => return Step::NewerMinor(at),
        Err(e) => {
            return Step::Malformed(Error::new(ErrorKind::ClientMalformed {
                status: e.status(),
            }))
        }
    };
    let cfg = &snap.snap.config;
    let http10 = head.minor_version == 0;
    let mut p = Prepared {
        head_len: head.head_len,
        body: head.body,
        keep_alive: head.keep_alive,
        http10,
        expect_continue: head.expect_continue,
        upgrade: head.upgrade.is_some(),
        is_head: head.method == "HEAD",
        idempotent: shardgate_proxy::is_idempotent(head.method),
        action: Action::Reject,
    };
    let id_header = if cfg.request_id.enabled {
        cfg.request_id.header.as_str()
    } else {
        ""
    };
    let mut scratch = None;
    let normalized = lifecycle::view::normalize(ctx, &cfg.server, head.target, &mut scratch);
    let view = RequestView {
        method: head.method,
        host: head.host,
        target: head.target,
        normalized,
        body: head.body,
        protocol: if http10 { "HTTP/1.0" } else { "HTTP/1.1" },
        request_id: None,
        user_agent: None,
        referer: None,
        headers: HeaderFields::H1(head.headers),
    }
    .with_h1_fields(head.headers, id_header);
    rq.protocol = view.protocol;
    out.clear();
    let decision = lifecycle::enter(ctx, snap, rq, &view);
    match decision {
        Err(e) => rq.fail(e),
        Ok(Decision::Respond(route, resp)) => {
            let keep = keep_after_local(&mut p, ctx.retiring());
            ctx.date_bytes(|date| {
                write_static_response(out, resp, &route.response_headers, keep, p.is_head, date)
            });
            if let Some(v) = snap.snap.alt_svc(rq.listener) {
                shardgate_proxy::put_alt_svc(out, v);
            }
            p.action = Action::Respond;
        }
        Ok(Decision::Limited(route, refusal)) => {
            // A complete answer: the connection stays open for the next request.
            let keep = keep_after_local(&mut p, ctx.retiring());
            let limited = Limited {
                route: &route.name,
                rules: &route.rate_limits,
                rule: refusal.rule,
                retry_after: refusal.retry_after,
            };
            ctx.date_bytes(|date| write_limited_response(out, &limited, keep, p.is_head, date));
            if let Some(v) = snap.snap.alt_svc(rq.listener) {
                shardgate_proxy::put_alt_svc(out, v);
            }
            p.action = Action::Respond;
        }
        Ok(Decision::Final(route, answer)) => {
            let keep = keep_after_local(&mut p, ctx.retiring());
            let fields = |f: &mut dyn FnMut(&[u8], &[u8])| view.headers.each(f);
            let request = Reflected {
                method: head.method,
                target: head.target,
                version: view.protocol,
                fields: &fields,
            };
            let edits = &route.response_headers;
            ctx.date_bytes(|date| write_final_answer(out, answer, &request, edits, keep, date));
            if let Some(v) = snap.snap.alt_svc(rq.listener) {
                shardgate_proxy::put_alt_svc(out, v);
            }
            p.action = Action::Respond;
        }
        Ok(Decision::Proxy(route, upstream)) => {
            let framing = match head.body {
                BodyKind::Length(n) => Framing::Length(n),
                BodyKind::Chunked => Framing::Chunked,
                BodyKind::None | BodyKind::CloseDelimited => Framing::None,
            };
            let fctx = ForwardCtx {
                client_ip: rq.client.ip(),
                scheme: if rq.tls_version.is_some() {
                    "https"
                } else {
                    "http"
                },
                host: head.host,
                route,
                request_id: rq
                    .request_id
                    .is_generated
                    .then(|| (id_header.as_bytes(), rq.request_id.generated())),
                via: shardgate_proxy::VIA_HTTP11,
            };
            write_upstream_request(
                out,
                head.method,
                view.forwarded_target(),
                head.headers,
                &fctx,
                framing,
                head.upgrade,
            );
            p.action = Action::Proxy { upstream };
        }
    }
    if let Some(buf) = scratch {
        ctx.give_buffer(buf);
    }
    Step::Ready(p)
}

/// Whether the connection can stay open after the gateway answers itself.
/// Answering without reading a body the client was told to hold back leaves
/// the framing in doubt, and a large body is not worth reading just to drop
/// it: close afterwards in both cases.
pub(super) fn keep_after_local(p: &mut Prepared, retiring: bool) -> bool {
    let held_back = p.expect_continue && p.body != BodyKind::None;
    let large = matches!(p.body, BodyKind::Length(n) if n > DISCARD_LIMIT);
    // A retiring process (ADR 19) says so, and the client reconnects to its
    // successor.
    p.keep_alive = p.keep_alive && !held_back && !large && !retiring;
    p.keep_alive
}
