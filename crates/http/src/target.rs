//! Request-target forms (RFC 9112 §3.2) and authority syntax (RFC 3986 §3.2).
//!
//! Routing uses the host, so the host must be unambiguous: no userinfo, no
//! list-looking commas, no bytes a backend might normalise differently.

use crate::error::Error;

/// Checks that the target's form suits the method and returns the authority
/// it names (absolute-form and authority-form), which outranks `Host`.
pub(crate) fn check_target<'b>(method: &str, target: &'b str) -> Result<Option<&'b str>, Error> {
    // The target is ASCII (RFC 3986) and a fragment is never sent; httparse
    // lets both through.
    if target.bytes().any(|b| b >= 0x80 || b == b'#') {
        return Err(Error::Malformed("invalid request target"));
    }
    if method == "CONNECT" {
        return if is_valid_host(target.as_bytes(), true) {
            Ok(Some(target))
        } else {
            Err(Error::Malformed("CONNECT needs an authority-form target"))
        };
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(None)
        } else {
            Err(Error::Malformed("asterisk-form target outside OPTIONS"))
        };
    }
    if target.starts_with('/') {
        return Ok(None);
    }
    let Some((scheme, authority, _)) = split_absolute(target) else {
        return Err(Error::Malformed("invalid request target"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(Error::Malformed("unsupported URI scheme"));
    }
    if authority.is_empty() || !is_valid_host(authority.as_bytes(), false) {
        return Err(Error::Malformed("invalid authority in request target"));
    }
    // `http://h?q` (empty path, a query) is valid: it routes as `/` and
    // goes upstream as `/?q` (RFC 9112 §3.2.1), as nginx sends it.
    Ok(Some(authority))
}

/// The origin-form path of a target, for routing: absolute-form `http://h/p?q`
/// → `/p?q`, `/` when the path is empty (RFC 9112 §3.2.1); other forms
/// unchanged. `http://h?q` routes as `/` (routing looks at the path only;
/// the query goes upstream as `/?q`).
pub fn origin_form(target: &str) -> &str {
    match split_absolute(target) {
        Some((_, _, rest)) if rest.starts_with('/') => rest,
        Some(_) => "/",
        None => target,
    }
}

/// The host (and port) of an absolute-form target, without userinfo; `None`
/// for origin-, authority- and asterisk-form or an empty authority.
pub fn absolute_authority(target: &str) -> Option<&str> {
    let (_, authority, _) = split_absolute(target)?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

/// An absolute-form target split into (authority, rest), where rest starts at
/// the path, query or fragment, or is empty; `None` for the other forms.
pub fn split_absolute_form(target: &str) -> Option<(&str, &str)> {
    split_absolute(target).map(|(_, authority, rest)| (authority, rest))
}

/// `scheme "://" authority rest`, where rest starts at the first `/`, `?`
/// or `#` after the authority (or is empty).
fn split_absolute(target: &str) -> Option<(&str, &str, &str)> {
    // A scheme starts with a letter. Checked first because every origin-form
    // target ("/…") comes through here, and `split_once("://")` sets up a
    // substring searcher each time (0.2 % of a keep-alive request's CPU).
    if !target
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
    {
        return None;
    }
    let (scheme, after) = target.split_once("://")?;
    // The first byte, a letter, was checked above.
    if !scheme
        .bytes()
        .skip(1)
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at_checked(end)?;
    Some((scheme, authority, rest))
}

/// `uri-host [ ":" port ]` with a non-empty host; the port is required for
/// CONNECT. Commas are refused although RFC 3986 allows them in reg-names,
/// because `a,b` is also what two folded Host fields look like.
pub fn is_valid_host(value: &[u8], require_port: bool) -> bool {
    let (host_ok, port) = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = value.get(1..close).unwrap_or_default();
        let after = value.get(close + 1..).unwrap_or_default();
        let port = match after.split_first() {
            None => None,
            Some((b':', port)) => Some(port),
            Some(_) => return false,
        };
        (is_ip_literal(inside), port)
    } else {
        let (host, port) = match value.iter().position(|&b| b == b':') {
            Some(colon) => (
                value.get(..colon).unwrap_or_default(),
                value.get(colon + 1..),
            ),
            None => (value, None),
        };
        (is_reg_name(host), port)
    };
    let port_ok = match port {
        None | Some([]) => !require_port,
        Some(port) => {
            port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && port.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 65535
        }
    };
    host_ok && port_ok
}

/// IPv6address / IPvFuture, checked loosely by alphabet: exact IPv6
/// grammar buys nothing for routing and the backend resolves nothing from it.
fn is_ip_literal(inside: &[u8]) -> bool {
    !inside.is_empty()
        && inside
            .iter()
            .all(|&b| b == b':' || is_unreserved(b) || (is_sub_delim(b) && b != b','))
}

/// reg-name = *( unreserved / pct-encoded / sub-delims ), non-empty, no comma.
fn is_reg_name(host: &[u8]) -> bool {
    if host.is_empty() {
        return false;
    }
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        if b == b'%' {
            let hex = host.get(i + 1..i + 3).unwrap_or_default();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            i += 3;
        } else if is_unreserved(b) || (is_sub_delim(b) && b != b',') {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_targets() {
        assert_eq!(check_target("GET", "/a?b"), Ok(None));
        assert_eq!(check_target("GET", "//double"), Ok(None));
        assert_eq!(
            check_target("CONNECT", "/a"),
            Err(Error::Malformed("CONNECT needs an authority-form target"))
        );
    }

    #[test]
    fn absolute_form_names_the_host() {
        assert_eq!(
            check_target("GET", "http://example.com/x?y"),
            Ok(Some("example.com"))
        );
        assert_eq!(
            check_target("GET", "HTTPS://example.com:8443"),
            Ok(Some("example.com:8443"))
        );
        assert_eq!(
            check_target("GET", "http://[::1]:80/"),
            Ok(Some("[::1]:80"))
        );
        // An empty path with a query (RFC 9112 §3.2.1: sent as `/?q`).
        assert_eq!(
            check_target("GET", "http://example.com?q"),
            Ok(Some("example.com"))
        );
        for bad in [
            "http:///path",
            "http://user@host/",
            "http://a,b/",
            "ftp://example.com/",
            "1http://example.com/",
            "http://exa mple.com/",
            "http://example.com:99999/",
            "example.com/",
            "example.com:80",
        ] {
            assert!(check_target("GET", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fragments_and_non_ascii_are_refused() {
        assert!(check_target("GET", "/a#frag").is_err());
        assert!(check_target("GET", "/caf\u{e9}").is_err());
    }

    #[test]
    fn authority_form_only_for_connect() {
        assert_eq!(
            check_target("CONNECT", "example.com:443"),
            Ok(Some("example.com:443"))
        );
        assert_eq!(
            check_target("CONNECT", "[2001:db8::1]:443"),
            Ok(Some("[2001:db8::1]:443"))
        );
        assert!(check_target("CONNECT", "example.com").is_err());
        assert!(check_target("CONNECT", "example.com:").is_err());
        assert!(check_target("CONNECT", "http://example.com:443/").is_err());
        assert!(check_target("GET", "example.com:443").is_err());
    }

    #[test]
    fn asterisk_form_only_for_options() {
        assert_eq!(check_target("OPTIONS", "*"), Ok(None));
        assert!(check_target("GET", "*").is_err());
        assert_eq!(check_target("OPTIONS", "/"), Ok(None));
    }

    #[test]
    fn host_syntax() {
        for ok in [
            &b"example.com"[..],
            b"example.com:8080",
            b"example.com:",
            b"EXAMPLE.com",
            b"127.0.0.1",
            b"[::1]",
            b"[::1]:443",
            b"[v1.fe80::a+en1]",
            b"my_host~x",
            b"a%2Db",
        ] {
            assert!(is_valid_host(ok, false), "{ok:?}");
        }
        for bad in [
            &b""[..],
            b":80",
            b"a b",
            b"a,b",
            b"a/b",
            b"user@a",
            b"a:b",
            b"a:80:80",
            b"a:65536",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"a%2",
            b"a%zz",
            b"a\tb",
            b"caf\xc3\xa9",
        ] {
            assert!(!is_valid_host(bad, false), "{bad:?}");
        }
        assert!(is_valid_host(b"a:65535", true));
        assert!(!is_valid_host(b"a", true));
    }

    #[test]
    fn origin_form_rewrites_absolute_only() {
        assert_eq!(origin_form("http://h/p?q"), "/p?q");
        assert_eq!(origin_form("http://h"), "/");
        assert_eq!(origin_form("https://h:1/"), "/");
        // Refused by the parser; routes as the root if met unparsed.
        assert_eq!(origin_form("http://h?q"), "/");
        assert_eq!(origin_form("/p?q"), "/p?q");
        assert_eq!(origin_form("*"), "*");
        assert_eq!(origin_form("h:443"), "h:443");
        assert_eq!(
            origin_form("/redirect?to=http://x/y"),
            "/redirect?to=http://x/y"
        );
    }
}
