//! Head rewriting for messages that cross the proxy, and the heads the gateway
//! writes itself.
//!
//! Every writer appends one complete HTTP/1.1 head to a caller-owned `Vec<u8>`
//! (the connection's reusable write buffer) and allocates nothing else. Received
//! field names keep their case; values are trimmed of optional whitespace; fields
//! the gateway generates use lower-case names. Framing (`content-length` /
//! `transfer-encoding`) is always the caller's decision, passed as [`Framing`], and
//! never copied from the received message: that is the core request-smuggling
//! defence on the proxy side.

mod fields;
mod forwarded;
mod request;
mod response;
mod target;
mod wire;

use std::net::IpAddr;

use shardgate_config::RouteConfig;

pub use request::write_upstream_request;
pub use response::{
    write_downstream_response, write_error_response, write_error_response_for,
    write_static_response,
};
pub use target::{absolute_authority, origin_form};

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
}

/// The framing the outgoing message will use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body, or (responses only) a body delimited by closing the connection.
    None,
    Length(u64),
    Chunked,
}

fn put_framing(out: &mut Vec<u8>, framing: Framing) {
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            wire::put(out, b"content-length: ");
            wire::put_u64(out, n);
            wire::put(out, b"\r\n");
        }
        Framing::Chunked => wire::put(out, b"transfer-encoding: chunked\r\n"),
    }
}

/// `connection: upgrade` + `upgrade: <proto>`. A protocol list that could not be
/// written safely is replaced by nothing, which makes the peer refuse the upgrade
/// instead of misreading the head.
fn put_upgrade(out: &mut Vec<u8>, proto: &str) {
    let proto = wire::trim_ows(proto.as_bytes());
    if proto.is_empty() || !wire::is_field_value(proto) {
        return;
    }
    wire::put(out, b"connection: upgrade\r\n");
    wire::put_field(out, b"upgrade", proto);
}
