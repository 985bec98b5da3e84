//! Whether a `101 (Switching Protocols)` switches to what the client asked
//! for. RFC 9110 §7.8: a server MUST send `Upgrade` in a 101 naming the
//! protocol(s) it switches to, and MUST NOT switch to one the client did not
//! indicate. A gateway that opened a tunnel on any 101 would let an origin
//! (or whatever answers in its place) turn the connection into a protocol
//! the client never offered, past every rule that reads HTTP.

/// `chosen` (the 101's `Upgrade` value) is non-empty and each protocol in
/// it is one of `offered` (the request's `Upgrade` value). Names compare
/// case-insensitively; versions only when both sides give one (`websocket`
/// offered, `websocket/13` chosen, is the same protocol).
pub fn switch_was_offered(offered: &[u8], chosen: &[u8]) -> bool {
    let mut any = false;
    for c in protocols(chosen) {
        any = true;
        let (name, version) = split(c);
        let known = protocols(offered).any(|o| {
            let (oname, oversion) = split(o);
            oname.eq_ignore_ascii_case(name)
                && match (version, oversion) {
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    _ => true,
                }
        });
        if !known {
            return false;
        }
    }
    any
}

/// The non-empty elements of a comma-separated list, trimmed.
fn protocols(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty())
}

/// `name[/version]`.
fn split(p: &[u8]) -> (&[u8], Option<&[u8]>) {
    match p.iter().position(|&b| b == b'/') {
        Some(i) => (&p[..i], Some(&p[i + 1..])),
        None => (p, None),
    }
}

#[cfg(test)]
mod tests {
    use super::switch_was_offered as ok;

    #[test]
    fn the_offered_protocol_is_accepted() {
        assert!(ok(b"websocket", b"websocket"));
        assert!(ok(b"websocket", b"WebSocket"));
        assert!(ok(b"foo/2, websocket", b" websocket "));
        assert!(ok(b"websocket", b"websocket/13"));
        assert!(ok(b"foo/2", b"foo"));
        assert!(ok(b"HTTP/2.0, SHTTP/1.3, IRC/6.9", b"SHTTP/1.3, IRC/6.9"));
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(!ok(b"websocket", b""), "a 101 must name its protocol");
        assert!(!ok(b"websocket", b" , "));
        assert!(!ok(b"websocket", b"h2c"));
        assert!(!ok(b"websocket", b"websocket, h2c"), "every one offered");
        assert!(!ok(b"foo/2", b"foo/1"), "another version");
        assert!(!ok(b"websocket", b"websockets"));
        assert!(!ok(b"", b"websocket"));
    }
}
