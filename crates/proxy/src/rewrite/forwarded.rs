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

/// Writes `name: <existing values joined>, <then>\r\n`. When any existing
/// value fails `valid`, none is kept: joined to a value with an open quote
/// or comment, ours would read as part of it (`for="6.6.6.6, for=10.0.0.1`),
/// and the client's chain is not worth keeping past the point it lies.
pub(crate) fn put_appended(
    out: &mut Vec<u8>,
    fields: &Fields<'_>,
    name: &[u8],
    valid: fn(&[u8]) -> bool,
    then: impl FnOnce(&mut Vec<u8>),
) {
    put(out, name);
    put(out, b": ");
    let mut all_valid = true;
    fields.for_each_named(name, |v| all_valid &= valid(v));
    if all_valid {
        fields.for_each_named(name, |v| {
            if !v.is_empty() {
                put(out, v);
                put(out, b", ");
            }
        });
    }
    then(out);
    put(out, b"\r\n");
}

/// Any X-Forwarded-For value: it has no quoting that could swallow ours.
pub(crate) fn any_value(_: &[u8]) -> bool {
    true
}

/// RFC 7239 §4: `#forwarded-element`, each `[pair] *( ";" [pair] )`, a
/// pair `token "=" ( token / quoted-string )`, with OWS around commas
/// (and, leniently, before `;`).
pub(crate) fn forwarded_is_valid(v: &[u8]) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        /// Where a pair may start (after `;`, `,` or at the start).
        PairStart,
        Name,
        /// After `=`.
        Value,
        Token,
        Quoted,
        QuotedPair,
        /// After a value: `;`, `,` or OWS before `,`.
        PairEnd,
        /// OWS after a value, before the `,` that must come.
        Ows,
    }
    let mut s = S::PairStart;
    for &b in v {
        s = match (s, b) {
            (S::PairStart, b' ' | b'\t' | b';' | b',') => S::PairStart,
            (S::PairStart | S::Name, _) if is_token_char(b) => S::Name,
            (S::Name, b'=') => S::Value,
            (S::Value, b'"') => S::Quoted,
            (S::Value | S::Token, _) if is_token_char(b) => S::Token,
            (S::Quoted, b'"') => S::PairEnd,
            (S::Quoted, b'\\') => S::QuotedPair,
            (S::Quoted | S::QuotedPair, _)
                if b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80 =>
            {
                S::Quoted
            }
            (S::Token | S::PairEnd, b';' | b',') => S::PairStart,
            (S::Token | S::PairEnd | S::Ows, b' ' | b'\t') => S::Ows,
            // OWS before `;` is outside the grammar but harmless: taken.
            (S::Ows, b',' | b';') => S::PairStart,
            _ => return false,
        };
    }
    matches!(s, S::PairStart | S::Token | S::PairEnd | S::Ows)
}

/// RFC 9110 §7.6.3, as far as it matters here: comments balanced (they
/// nest; `\` escapes), no `"` or `)` outside one, visible characters and
/// whitespace only.
pub(crate) fn via_is_valid(v: &[u8]) -> bool {
    let mut depth = 0u32;
    let mut escaped = false;
    for &b in v {
        if b != b'\t' && (b < b' ' || b == 0x7f) {
            return false;
        }
        if depth == 0 {
            match b {
                b'(' => depth = 1,
                b'"' | b')' => return false,
                _ => {}
            }
        } else if escaped {
            escaped = false;
        } else {
            match b {
                b'\\' => escaped = true,
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
        }
    }
    depth == 0 && !escaped
}

/// tchar (RFC 9110 §5.6.2).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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
    fn client_values_that_would_swallow_ours_are_refused() {
        for ok in [
            "",
            "for=1.2.3.4",
            r#"for="[::1]";proto=https, for=5.6.7.8 ;by=x"#,
            r#"for=a;host="h\"q", for=b"#,
            ";;for=x,,",
        ] {
            assert!(forwarded_is_valid(ok.as_bytes()), "{ok}");
        }
        for bad in [
            r#"for="6.6.6.6"#,
            "for",
            "for=a b",
            "=x",
            r#"for="x\"#,
            "for=(x)",
        ] {
            assert!(!forwarded_is_valid(bad.as_bytes()), "{bad}");
        }
        for ok in [
            "1.1 a",
            "1.0 fred, 1.1 p.example.net (Apache/1.1)",
            "1.1 x (a (b) \\) c)",
        ] {
            assert!(via_is_valid(ok.as_bytes()), "{ok}");
        }
        for bad in ["1.1 evil (x", "1.1 a)", "1.1 \"q", "1.1 x (a\\)"] {
            assert!(!via_is_valid(bad.as_bytes()), "{bad}");
        }
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
