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

/// The protocols a request head written here offers: the value
/// [`put_upgrade`] wrote (header edits cannot add `upgrade`, it is
/// hop-by-hop), None when it wrote none. Read back only when an origin
/// answers 101, so upgrade requests carry nothing extra until then.
pub fn offered_upgrade(head: &[u8]) -> Option<&[u8]> {
    const LINE: &[u8] = b"\r\nupgrade: ";
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = &head[..end + 2];
    let at = head.windows(LINE.len()).position(|w| w == LINE)? + LINE.len();
    let rest = &head[at..];
    let len = rest.windows(2).position(|w| w == b"\r\n")?;
    Some(&rest[..len])
}

#[cfg(test)]
mod tests {
    use super::{offered_upgrade, put_upgrade};

    #[test]
    fn the_offer_written_is_read_back() {
        let mut head = b"GET / HTTP/1.1\r\nhost: a\r\nx-upgrade: no\r\n".to_vec();
        put_upgrade(&mut head, " websocket/13, foo ");
        head.extend_from_slice(b"via: 1.1 shardgate\r\n\r\n");
        assert_eq!(offered_upgrade(&head), Some(&b"websocket/13, foo"[..]));
    }

    #[test]
    fn no_offer_in_the_head_is_none() {
        // Only `x-upgrade`, and an `upgrade:` line in the body after the head.
        let head = b"GET / HTTP/1.1\r\nx-upgrade: no\r\n\r\nx\r\nupgrade: websocket\r\n";
        assert_eq!(offered_upgrade(head), None);
        let mut unsafe_value = b"GET / HTTP/1.1\r\n".to_vec();
        put_upgrade(&mut unsafe_value, "a\nb");
        unsafe_value.extend_from_slice(b"\r\n");
        assert_eq!(offered_upgrade(&unsafe_value), None, "nothing was written");
    }
}
