//! The head of the request sent to an upstream server.

use std::net::IpAddr;

use httparse::Header;
use shardgate_config::RouteConfig;

use super::fields::{eq_ci, request_protected, set_value, Base, Fields};
use super::forwarded::{
    any_value, forwarded_is_valid, put_appended, put_forwarded_element, via_is_valid,
};
use super::framing::{put_framing, put_upgrade, Framing};
use super::hop_limit::{forwarded_count, put_max_forwards, MAX_FORWARDS};
use super::target::{absolute_authority, upstream_target};
use super::wire::{is_field_value, put, put_field, put_ip, trim_ows};

/// What the request writer needs to know about the downstream side.
#[derive(Debug, Clone, Copy)]
pub struct ForwardCtx<'a> {
    /// The peer address of the client connection.
    pub client_ip: IpAddr,
    /// The listener's scheme: `"http"` (or `"https"` behind TLS).
    pub scheme: &'static str,
    /// The effective host when the head names none (HTTP/1.0 without Host).
    pub host: Option<&'a str>,
    pub route: &'a RouteConfig,
    /// `(header name, id)` when the gateway made the request id: every
    /// client field of that name is dropped and this one written instead. None
    /// when the client's own id is forwarded as it came (or ids are off).
    pub request_id: Option<(&'a [u8], &'a [u8])>,
    /// This hop's Via entry: [`VIA_HTTP11`](crate::VIA_HTTP11) or
    /// [`VIA_HTTP3`](crate::VIA_HTTP3), by the protocol the request came in.
    pub via: &'static [u8],
}

const XFF: &[u8] = b"x-forwarded-for";
const XFP: &[u8] = b"x-forwarded-proto";
const FORWARDED: &[u8] = b"forwarded";
const VIA_NAME: &[u8] = b"via";

/// Writes the upstream request head into `out` (appending; the caller clears).
///
/// Layout: request line (origin-form target, always HTTP/1.1); `host`; the
/// client's end-to-end fields after the route's `request_headers` edits; framing;
/// upgrade; then the forwarding fields the route enables.
///
/// Host: the route's `set` value if it sets `host`, else the absolute-form
/// authority (RFC 9112 §3.2.2: it overrides the Host field), else the client's Host
/// field, else `ctx.host`, else empty (RFC 9112 §3.2 allows an empty Host). Routes
/// cannot `remove` or `add` Host, nor touch framing or hop-by-hop fields: a head
/// with two Hosts or a Content-Length that disagrees with the body is a request
/// smuggling vector.
///
/// Max-Forwards on OPTIONS and TRACE: the received count less one, in place of
/// every received or configured value (RFC 9110 §7.6.2; the lifecycle answered
/// a zero itself and refused a malformed count). Other methods forward the field
/// untouched.
///
/// Forwarding fields: X-Forwarded-For, Forwarded and Via append to the values that
/// survive the route's edits (so `remove = ["x-forwarded-for"]` distrusts the
/// client's); X-Forwarded-Proto replaces every other value, the route's included
/// (disable it to set your own). The Forwarded `host` is the host the client asked
/// for, before any route `set`.
///
/// `method` and `target` are expected as httparse produced them (tokens and
/// visible characters); they are copied verbatim.
pub fn write_upstream_request(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    headers: &[Header],
    ctx: &ForwardCtx,
    framing: Framing,
    upgrade: Option<&str>,
) {
    let fwd = ctx.route.forwarded;
    let fields = Fields {
        base: Base::Parsed(headers),
        edits: &ctx.route.request_headers,
        protected: request_protected,
    };

    put(out, method.as_bytes());
    put(out, b" ");
    let (slash, rest) = upstream_target(method, target);
    if slash {
        put(out, b"/");
    }
    put(out, rest.as_bytes());
    put(out, b" HTTP/1.1\r\n");

    let client_host = client_host(target, headers, ctx.host);
    let host = set_value(&ctx.route.request_headers, b"host").unwrap_or(client_host);
    put_field(out, b"host", host);

    let hops = forwarded_count(method, headers);
    let generated = |name: &[u8]| {
        (hops.is_some() && eq_ci(name, MAX_FORWARDS))
            || (fwd.x_forwarded_for && eq_ci(name, XFF))
            || (fwd.x_forwarded_proto && eq_ci(name, XFP))
            || (fwd.forwarded && eq_ci(name, FORWARDED))
            || (fwd.via && eq_ci(name, VIA_NAME))
            || ctx.request_id.is_some_and(|(id, _)| eq_ci(name, id))
    };
    fields.for_each(|name, value| {
        if !generated(name) {
            put_field(out, name, value);
        }
    });

    if let Some(n) = hops {
        put_max_forwards(out, n);
    }
    put_framing(out, framing);
    if let Some(proto) = upgrade {
        put_upgrade(out, proto);
    }

    if fwd.x_forwarded_for {
        put_appended(out, &fields, XFF, any_value, |out| {
            put_ip(out, ctx.client_ip)
        });
    }
    if fwd.x_forwarded_proto {
        put_field(out, XFP, ctx.scheme.as_bytes());
    }
    if fwd.forwarded {
        put_appended(out, &fields, FORWARDED, forwarded_is_valid, |out| {
            put_forwarded_element(out, ctx.client_ip, ctx.scheme, Some(client_host));
        });
    }
    if fwd.via {
        put_appended(out, &fields, VIA_NAME, via_is_valid, |out| {
            put(out, ctx.via)
        });
    }
    if let Some((name, id)) = ctx.request_id {
        put_field(out, name, id);
    }
    put(out, b"\r\n");
}

/// The host the client asked for, as RFC 9112 §3.2.2 defines it.
fn client_host<'a>(target: &'a str, headers: &'a [Header], fallback: Option<&'a str>) -> &'a [u8] {
    if let Some(authority) = absolute_authority(target) {
        return authority.as_bytes();
    }
    headers
        .iter()
        .find(|h| eq_ci(h.name.as_bytes(), b"host"))
        .map(|h| trim_ows(h.value))
        .or_else(|| fallback.map(|h| trim_ows(h.as_bytes())))
        .filter(|h| is_field_value(h))
        .unwrap_or_default()
}
