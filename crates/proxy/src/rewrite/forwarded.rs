//! The forwarding fields a route adds: X-Forwarded-For, X-Forwarded-Proto,
//! Forwarded (RFC 7239) and Via (RFC 9110 §7.6.3).
//!
//! The list-valued ones are appended to: values already present (after the route's
//! edits, so `remove = ["x-forwarded-for"]` means "do not trust the client's") are
//! joined into one field and ours goes last, which is what the next hop reads as
//! "the address that connected to the proxy".

use std::net::IpAddr;

use super::fields::Fields;
use super::wire::{put, put_ip};

/// `received-protocol received-by` for Via (RFC 9110 §7.6.3): what a
/// response from an HTTP/1.1 upstream, or a request from an HTTP/1.1
/// client, was received with.
pub const VIA_HTTP11: &[u8] = b"1.1 shardgate";
/// Via for requests received over HTTP/3.
pub const VIA_HTTP3: &[u8] = b"3 shardgate";

/// Writes `name: <existing values joined>, <then>\r\n`.
pub(crate) fn put_appended(
    out: &mut Vec<u8>,
    fields: &Fields<'_>,
    name: &[u8],
    then: impl FnOnce(&mut Vec<u8>),
) {
    put(out, name);
    put(out, b": ");
    fields.for_each_named(name, |v| {
        if !v.is_empty() {
            put(out, v);
            put(out, b", ");
        }
    });
    then(out);
    put(out, b"\r\n");
}

/// One RFC 7239 element: `for=1.2.3.4;proto=http;host="h"`. IPv6 nodes must be
/// quoted and bracketed (`for="[::1]"`); the host is always quoted because ports
/// (`:`) are not token characters.
pub(crate) fn put_forwarded_element(
    out: &mut Vec<u8>,
    ip: IpAddr,
    proto: &str,
    host: Option<&[u8]>,
) {
    let ip = ip.to_canonical();
    put(out, b"for=");
    if ip.is_ipv6() {
        put(out, b"\"[");
        put_ip(out, ip);
        put(out, b"]\"");
    } else {
        put_ip(out, ip);
    }
    put(out, b";proto=");
    put(out, proto.as_bytes());
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        put(out, b";host=\"");
        put_quoted_content(out, host);
        put(out, b"\"");
    }
}

/// quoted-string content (RFC 9110 §5.6.4): `"` and `\` escaped; control bytes
/// (which a parsed field cannot contain anyway) dropped.
fn put_quoted_content(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\t' => out.push(b),
            0..=0x1f | 0x7f => {}
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(ip: &str, host: Option<&str>) -> String {
        let mut out = Vec::new();
        put_forwarded_element(
            &mut out,
            ip.parse().unwrap(),
            "http",
            host.map(str::as_bytes),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn forwarded_elements() {
        assert_eq!(
            element("1.2.3.4", Some("h")),
            r#"for=1.2.3.4;proto=http;host="h""#
        );
        assert_eq!(element("::1", None), r#"for="[::1]";proto=http"#);
        assert_eq!(
            element("::ffff:1.2.3.4", Some("")),
            "for=1.2.3.4;proto=http"
        );
        assert_eq!(
            element("2001:db8::7", Some("a.com:8080")),
            r#"for="[2001:db8::7]";proto=http;host="a.com:8080""#
        );
        assert_eq!(
            element("1.1.1.1", Some("a\"b\\c\x01")),
            r#"for=1.1.1.1;proto=http;host="a\"b\\c""#
        );
    }
}
