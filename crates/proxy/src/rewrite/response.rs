//! Response heads: forwarded from an upstream, static (`respond` routes) and the
//! gateway's own errors.

use httparse::Header;
use shardgate_config::{HeaderRewrite, RouteConfig, StaticResponse};

use super::fields::{eq_ci, response_protected, Base, Fields};
use super::forwarded::{put_appended, via_is_valid, VIA_HTTP11};
use super::framing::{put_framing, put_upgrade, Framing};
use super::wire::{put, put_field, put_status_line, put_u64};
use crate::status::reason;

const SERVER: &[u8] = b"shardgate";

/// RFC 9110 §6.4.1 / §15.3.5 / §15.4.5: 1xx, 204 and 304 responses end at the head.
fn has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

/// RFC 9110 §8.6 / RFC 9112 §6.1: no Content-Length or Transfer-Encoding on 1xx
/// and 204.
fn may_frame(status: u16) -> bool {
    status >= 200 && status != 204
}

/// Writes the client-facing head of an upstream response.
///
/// Layout: status line (`reason` if it is non-empty and safe, else the registered
/// phrase; a status outside 100–999 becomes 502); the upstream's end-to-end fields
/// after `route.response_headers` edits; `via` when the route enables it; framing
/// (suppressed for 1xx and 204); then `connection: upgrade` + `upgrade` for a 101
/// with `upgrade`, or `connection: close` when `!keep_alive`.
///
/// Keep-alive is signalled only by absence (HTTP/1.1 default): a caller serving an
/// HTTP/1.0 client should pass `keep_alive = false`.
///
/// A final response without `date` gets one from `date` (RFC 9110 §6.6.1: a
/// recipient with a clock that forwards such a response MUST add it), unless
/// the route removes `date`; called only then, so the clock is read only then.
#[allow(clippy::too_many_arguments)]
pub fn write_downstream_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    headers: &[Header],
    route: &RouteConfig,
    framing: Framing,
    keep_alive: bool,
    upgrade: Option<&str>,
    date: &dyn Fn(&mut Vec<u8>),
) {
    // The upstream's phrase belongs to its code; a replaced code gets its own.
    let (status, reason) = if (100..=999).contains(&status) {
        (status, reason)
    } else {
        (502, "")
    };
    put_status_line(out, status, reason, 502);
    let via = route.forwarded.via;
    let fields = Fields {
        base: Base::Parsed(headers),
        edits: &route.response_headers,
        protected: response_protected,
    };
    let mut dated = false;
    fields.for_each(|name, value| {
        dated |= eq_ci(name, b"date");
        if !(via && eq_ci(name, b"via")) {
            put_field(out, name, value);
        }
    });
    if !dated
        && status >= 200
        && !route
            .response_headers
            .remove
            .iter()
            .any(|r| eq_ci(r.as_bytes(), b"date"))
    {
        put(out, b"date: ");
        date(out);
        put(out, b"\r\n");
    }
    if via {
        put_appended(out, &fields, b"via", via_is_valid, |out| {
            put(out, VIA_HTTP11)
        });
    }
    if may_frame(status) {
        put_framing(out, framing);
    }
    put_connection(out, status, keep_alive, upgrade);
    put(out, b"\r\n");
}

fn put_connection(out: &mut Vec<u8>, status: u16, keep_alive: bool, upgrade: Option<&str>) {
    match upgrade {
        Some(proto) if status == 101 => put_upgrade(out, proto),
        _ if !keep_alive => put(out, b"connection: close\r\n"),
        _ => {}
    }
}

/// Writes a `respond` route's whole response (head and, unless `head_only` or the
/// status forbids one, body).
///
/// The gateway's defaults (`server: shardgate`, `date`) count as part of the
/// response's fields, so the route can `remove` or `set` them and the configured
/// `headers` replace them; edits then run `remove → set → add` over the
/// configured headers. Framing and connection fields in the config are ignored:
/// the length always comes from the body.
pub fn write_static_response(
    out: &mut Vec<u8>,
    resp: &StaticResponse,
    route_headers: &HeaderRewrite,
    keep_alive: bool,
    head_only: bool,
    date: &[u8],
) {
    let status = if (100..=999).contains(&resp.status) {
        resp.status
    } else {
        500
    };
    let body = resp.body.as_bytes();
    let head = LocalHead {
        status,
        configured: &resp.headers,
        content_type: None,
        body_len: body.len() as u64,
    };
    put_local_head(out, &head, route_headers, keep_alive, date);
    if !head_only && has_body(status) {
        put(out, body);
    }
}

/// The head of an answer the gateway gives itself.
pub(crate) struct LocalHead<'a> {
    /// 100–999.
    pub status: u16,
    pub configured: &'a [(String, String)],
    /// Written unless `configured` or the route's edits name `content-type`.
    pub content_type: Option<&'a [u8]>,
    pub body_len: u64,
}

/// Writes a local answer's head: the gateway's defaults (`server`, `date`,
/// the content type), which `configured` fields and the route's `set` or
/// `remove` replace, then the configured fields after the route's edits.
pub(crate) fn put_local_head(
    out: &mut Vec<u8>,
    head: &LocalHead<'_>,
    route_headers: &HeaderRewrite,
    keep_alive: bool,
    date: &[u8],
) {
    let status = head.status;
    put_status_line(out, status, reason(status), 500);
    let default_applies = |name: &[u8]| {
        !route_headers
            .remove
            .iter()
            .any(|n| eq_ci(n.as_bytes(), name))
            && !route_headers
                .set
                .iter()
                .any(|(n, _)| eq_ci(n.as_bytes(), name))
            && !head
                .configured
                .iter()
                .any(|(n, _)| eq_ci(n.as_bytes(), name))
    };
    if default_applies(b"server") {
        put_field(out, b"server", SERVER);
    }
    if !date.is_empty() && default_applies(b"date") {
        put_field(out, b"date", date);
    }
    if let Some(ct) = head
        .content_type
        .filter(|_| default_applies(b"content-type"))
    {
        put_field(out, b"content-type", ct);
    }
    let fields = Fields {
        base: Base::Configured(head.configured),
        edits: route_headers,
        protected: response_protected,
    };
    fields.for_each(|name, value| put_field(out, name, value));
    if may_frame(status) && status != 304 {
        put_framing(out, Framing::Length(head.body_len));
    }
    put_connection(out, status, keep_alive, None);
    put(out, b"\r\n");
}

/// Writes one of the gateway's own error responses, e.g. `502 Bad Gateway\n` as
/// `text/plain`. Equivalent to `write_error_response_for(.., head_only = false, ..)`.
pub fn write_error_response(out: &mut Vec<u8>, status: u16, keep_alive: bool, date: &[u8]) {
    write_error_response_for(out, status, keep_alive, false, date);
}

/// As [`write_error_response`], for a HEAD request when `head_only`: the same head
/// (Content-Length included, RFC 9110 §9.3.2) without the body, so a kept-alive
/// connection stays in sync.
pub fn write_error_response_for(
    out: &mut Vec<u8>,
    status: u16,
    keep_alive: bool,
    head_only: bool,
    date: &[u8],
) {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let phrase = reason(status);
    put_status_line(out, status, phrase, 500);
    put_field(out, b"server", SERVER);
    if !date.is_empty() {
        put_field(out, b"date", date);
    }
    let body = has_body(status);
    if body {
        // "502 Bad Gateway\n", or "599\n" for an unregistered code.
        let len =
            3 + if phrase.is_empty() {
                0
            } else {
                1 + phrase.len()
            } + 1;
        put_field(out, b"content-type", b"text/plain; charset=utf-8");
        put(out, b"content-length: ");
        put_u64(out, len as u64);
        put(out, b"\r\n");
    }
    put_connection(out, status, keep_alive, None);
    put(out, b"\r\n");
    if body && !head_only {
        put_u64(out, u64::from(status));
        if !phrase.is_empty() {
            put(out, b" ");
            put(out, phrase.as_bytes());
        }
        put(out, b"\n");
    }
}

/// Adds `alt-svc: value` to a head already written into `out` (before the
/// blank line that ends it; a body after it is moved along). Used for
/// listeners that advertise an HTTP/3 listener (RFC 7838).
pub fn put_alt_svc(out: &mut Vec<u8>, value: &[u8]) {
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let at = end + 2;
    // Exact-size iterators: the splice needs no temporary buffer.
    let field = b"alt-svc: ".iter().chain(value).chain(b"\r\n").copied();
    out.splice(at..at, field);
}

#[cfg(test)]
mod alt_svc_tests {
    use super::put_alt_svc;

    #[test]
    fn alt_svc_goes_at_the_end_of_the_head_before_any_body() {
        let mut out = b"HTTP/1.1 200 OK\r\nserver: x\r\n\r\nbody\r\n\r\n".to_vec();
        put_alt_svc(&mut out, b"h3=\":443\"; ma=86400");
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nserver: x\r\nalt-svc: h3=\":443\"; ma=86400\r\n\r\nbody\r\n\r\n"
        );
        let mut partial = b"HTTP/1.1 200 OK\r\n".to_vec();
        put_alt_svc(&mut partial, b"v");
        assert_eq!(partial, b"HTTP/1.1 200 OK\r\n", "no head end: unchanged");
    }
}
