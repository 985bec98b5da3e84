//! Host names as the router compares them.
//!
//! Both sides are reduced to the same form: no port, no trailing dot, no IPv6
//! brackets. Patterns are lower-cased once when the table is built; request hosts
//! are compared case-insensitively in place, so a lookup never allocates.

use std::cmp::Ordering;

/// The part of a Host field value the router matches on: `Example.COM.:8080` →
/// `Example.COM`, `[::1]:8080` → `::1`. `None` when nothing is left, which routes
/// like a request without a Host.
pub(crate) fn normalize(raw: &str) -> Option<&str> {
    let raw = raw.trim_matches([' ', '\t']);
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // IPv6 literal: everything up to the closing bracket. An unclosed bracket is
        // malformed; matching it against nothing is the safe answer.
        rest.split_once(']').map_or("", |(addr, _)| addr)
    } else {
        raw.split_once(':').map_or(raw, |(name, _port)| name)
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// Lower-cases a configured pattern (config promises lower case; this makes the
/// table correct even if it did not) and normalizes it like a request host.
pub(crate) fn normalize_pattern(pattern: &str) -> String {
    let p = pattern.trim_matches([' ', '\t']);
    let p = p
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(p);
    let p = p.strip_suffix('.').unwrap_or(p);
    p.to_ascii_lowercase()
}

/// Orders a lower-case key against a host of any case as if the host were
/// lower-cased: consistent with sorting keys by bytes, so it can drive a
/// binary search.
pub(crate) fn cmp_key(key: &[u8], host: &[u8]) -> Ordering {
    key.iter()
        .copied()
        .cmp(host.iter().map(|b| b.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_request_hosts() {
        assert_eq!(normalize("example.com"), Some("example.com"));
        assert_eq!(normalize("Example.COM:8080"), Some("Example.COM"));
        assert_eq!(normalize("example.com."), Some("example.com"));
        assert_eq!(normalize("example.com.:443"), Some("example.com"));
        assert_eq!(normalize("[::1]:8080"), Some("::1"));
        assert_eq!(normalize("[::1]"), Some("::1"));
        assert_eq!(normalize("[::1"), None);
        assert_eq!(normalize("1.2.3.4:80"), Some("1.2.3.4"));
        assert_eq!(normalize(""), None);
        assert_eq!(normalize(":80"), None);
        assert_eq!(normalize("."), None);
        assert_eq!(normalize(" a.b "), Some("a.b"));
    }

    #[test]
    fn normalizes_patterns() {
        assert_eq!(normalize_pattern("Example.COM."), "example.com");
        assert_eq!(normalize_pattern("*.Example.com"), "*.example.com");
        assert_eq!(normalize_pattern("[::1]"), "::1");
    }

    #[test]
    fn case_insensitive_order() {
        assert_eq!(cmp_key(b"example.com", b"EXAMPLE.com"), Ordering::Equal);
        assert_eq!(cmp_key(b"a", b"B"), Ordering::Less);
        assert_eq!(cmp_key(b"b", b"A"), Ordering::Greater);
        assert_eq!(cmp_key(b"ab", b"A"), Ordering::Greater);
        assert_eq!(cmp_key(b"a", b"AB"), Ordering::Less);
    }
}
