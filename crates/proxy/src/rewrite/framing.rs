//! The framing and upgrade fields every message writer emits the same way.

use super::wire;

/// The framing the outgoing message will use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body, or (responses only) a body delimited by closing the connection.
    None,
    Length(u64),
    Chunked,
}

pub(super) fn put_framing(out: &mut Vec<u8>, framing: Framing) {
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
pub(super) fn put_upgrade(out: &mut Vec<u8>, proto: &str) {
    let proto = wire::trim_ows(proto.as_bytes());
    if proto.is_empty() || !wire::is_field_value(proto) {
        return;
    }
    wire::put(out, b"connection: upgrade\r\n");
    wire::put_field(out, b"upgrade", proto);
}
