//! Turning a request head into a decision, synchronously, while the head is still
//! borrowed from the read buffer: parse, route, and write the outgoing head (the
//! upstream request or the whole static response) into a pooled buffer. What the
//! async part needs afterwards is copied into [`Prepared`], which borrows nothing.

use std::net::IpAddr;

use shardgate_config::RouteAction;
use shardgate_http::{parse_request, BodyKind, HeaderStore, Limits, Parsed};
use shardgate_proxy::{write_static_response, write_upstream_request, ForwardCtx, Framing};

use crate::shard::{ShardCtx, ShardSnap};

/// Static responses discard a request body up to this size; a larger one closes
/// the connection instead of reading it all.
pub const DISCARD_LIMIT: u64 = 1 << 20;

pub enum Action {
    /// `out` holds the complete static response.
    Respond,
    /// `out` holds the upstream request head; forward to this upstream index.
    Proxy { upstream: usize, route: usize },
    /// Answer with this status (no route, method not supported, body too large …).
    Reject { status: u16 },
}

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
    /// The head is malformed or over a limit: answer with this status and close.
    Malformed(u16),
}

pub struct Input<'a> {
    pub data: &'a [u8],
    pub listener: usize,
    pub client_ip: IpAddr,
    /// `"http"` or `"https"`, for X-Forwarded-Proto and Forwarded.
    pub scheme: &'static str,
    pub limits: &'a Limits,
}

pub fn prepare(ctx: &ShardCtx, snap: &ShardSnap, input: Input<'_>, out: &mut Vec<u8>) -> Step {
    // Uninitialised slots: creating the store costs nothing.
    let mut store = HeaderStore::new();
    let head = match parse_request(input.data, input.limits, &mut store) {
        Ok(Parsed::Complete(h)) => h,
        Ok(Parsed::Partial) => return Step::Partial,
        Err(e) => return Step::Malformed(e.status()),
    };
    let cfg = &snap.snap.config;
    let mut p = Prepared {
        head_len: head.head_len,
        body: head.body,
        keep_alive: head.keep_alive,
        http10: head.minor_version == 0,
        expect_continue: head.expect_continue,
        upgrade: head.upgrade.is_some(),
        is_head: head.method == "HEAD",
        idempotent: shardgate_proxy::is_idempotent(head.method),
        action: Action::Reject { status: 404 },
    };
    out.clear();
    if head.method == "CONNECT" {
        // A reverse proxy does not open tunnels to arbitrary hosts.
        p.action = Action::Reject { status: 501 };
        return Step::Ready(p);
    }
    let max_body = cfg.server.limits.max_body_bytes;
    if let BodyKind::Length(n) = head.body {
        if max_body > 0 && n > max_body {
            p.action = Action::Reject { status: 413 };
            return Step::Ready(p);
        }
    }
    let path = shardgate_http::origin_form(head.target);
    let Some(route_idx) = snap.snap.router.lookup(input.listener, head.host, path) else {
        return Step::Ready(p);
    };
    let Some(route) = cfg.routes.get(route_idx) else {
        return Step::Ready(p);
    };
    match &route.action {
        RouteAction::Respond(resp) => {
            // Answering without reading a body the client was told to hold back
            // leaves the framing in doubt, and a large body is not worth reading
            // just to drop it: close afterwards in both cases.
            let held_back = p.expect_continue && head.body != BodyKind::None;
            let large = matches!(head.body, BodyKind::Length(n) if n > DISCARD_LIMIT);
            let keep = p.keep_alive && !held_back && !large;
            p.keep_alive = keep;
            ctx.date_bytes(|date| {
                write_static_response(out, resp, &route.response_headers, keep, p.is_head, date)
            });
            p.action = Action::Respond;
        }
        RouteAction::Proxy { .. } => {
            let Some(up_idx) = snap.snap.route_upstream.get(route_idx).copied().flatten() else {
                p.action = Action::Reject { status: 502 };
                return Step::Ready(p);
            };
            let framing = match head.body {
                BodyKind::Length(n) => Framing::Length(n),
                BodyKind::Chunked => Framing::Chunked,
                BodyKind::None | BodyKind::CloseDelimited => Framing::None,
            };
            let fctx = ForwardCtx {
                client_ip: input.client_ip,
                scheme: input.scheme,
                host: head.host,
                route,
            };
            write_upstream_request(
                out,
                head.method,
                head.target,
                head.headers,
                &fctx,
                framing,
                head.upgrade,
            );
            p.action = Action::Proxy {
                upstream: up_idx,
                route: route_idx,
            };
        }
    }
    Step::Ready(p)
}
