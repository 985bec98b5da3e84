//! Host patterns of a route: `example.com`, `*.example.com`, `10.0.0.1`, `[::1]`
//! (`::1` is accepted and stored bracketed).
//!
//! They are normalized here (lower case, no trailing dot) so the matcher on the
//! request path compares bytes and never allocates.

use std::net::Ipv6Addr;

const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// The normalized pattern, or a message saying what is wrong with it.
pub(crate) fn normalize(pattern: &str) -> Result<String, String> {
    if pattern.is_empty() {
        return Err("empty host pattern".to_string());
    }
    if !pattern.is_ascii() {
        return Err(format!(
            "{pattern:?}: non-ASCII host; write the ASCII (\"xn--…\") form of the name"
        ));
    }
    if pattern == "*" {
        return Err(
            "\"*\" alone is not a pattern: leave out `hosts` to match any host".to_string(),
        );
    }
    let lower = pattern.to_ascii_lowercase();
    if lower.starts_with('[') {
        return ipv6_literal(&lower);
    }
    // A bare IPv6 literal: store it the way a Host header carries it.
    if lower.parse::<Ipv6Addr>().is_ok() {
        return Ok(format!("[{lower}]"));
    }
    if lower.contains(':') {
        return Err(format!(
            "{pattern:?}: a host pattern has no port (the listener decides the port)"
        ));
    }
    let (wildcard, rest) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, lower.as_str()),
    };
    // A fully qualified name ("example.com.") names the same host.
    let rest = rest.strip_suffix('.').unwrap_or(rest);
    if rest.contains('*') {
        return Err(format!(
            "{pattern:?}: `*` is only allowed as a whole leading label, as in \"*.example.com\""
        ));
    }
    if rest.len() > MAX_NAME {
        return Err(format!(
            "{pattern:?}: a host name has at most {MAX_NAME} characters"
        ));
    }
    for label in rest.split('.') {
        if label.is_empty() {
            return Err(format!(
                "{pattern:?}: empty label (two dots in a row, or a leading dot)"
            ));
        }
        if label.len() > MAX_LABEL {
            return Err(format!(
                "{pattern:?}: label {label:?} is longer than {MAX_LABEL} characters"
            ));
        }
        // `_` is not valid in host names (RFC 1123) but is common in internal DNS.
        if let Some(c) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(format!(
                "{pattern:?}: invalid character {c:?} in a host name"
            ));
        }
    }
    Ok(if wildcard {
        format!("*.{rest}")
    } else {
        rest.to_string()
    })
}

fn ipv6_literal(lower: &str) -> Result<String, String> {
    let inner = lower
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| {
            format!("{lower:?}: an IPv6 host is written \"[2001:db8::1]\", without a port")
        })?;
    inner
        .parse::<Ipv6Addr>()
        .map(|_| lower.to_string())
        .map_err(|_| format!("{lower:?}: not a valid IPv6 address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_trailing_dot() {
        assert_eq!(normalize("Example.COM"), Ok("example.com".into()));
        assert_eq!(normalize("example.com."), Ok("example.com".into()));
        assert_eq!(normalize("*.Example.com."), Ok("*.example.com".into()));
        assert_eq!(normalize("10.0.0.1"), Ok("10.0.0.1".into()));
        assert_eq!(normalize("[::1]"), Ok("[::1]".into()));
        assert_eq!(normalize("[2001:DB8::1]"), Ok("[2001:db8::1]".into()));
        assert_eq!(normalize("2001:DB8::1"), Ok("[2001:db8::1]".into()));
        assert_eq!(normalize("my_host.internal"), Ok("my_host.internal".into()));
    }

    #[test]
    fn rejects_bad_patterns() {
        for (input, needle) in [
            ("", "empty host pattern"),
            ("*", "leave out `hosts`"),
            ("example.com:8080", "has no port"),
            ("[::1]:8080", "without a port"),
            ("[zz::1]", "not a valid IPv6"),
            ("a.*.com", "only allowed as a whole leading label"),
            ("*example.com", "only allowed as a whole leading label"),
            ("*.*.com", "only allowed as a whole leading label"),
            ("a..com", "empty label"),
            (".a.com", "empty label"),
            ("a.com..", "empty label"),
            ("*.", "empty label"),
            ("ex ample.com", "invalid character ' '"),
            ("exa/mple.com", "invalid character '/'"),
            ("bücher.de", "non-ASCII"),
        ] {
            let err = normalize(input).unwrap_err();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn enforces_dns_lengths() {
        let label = "a".repeat(64);
        assert!(normalize(&format!("{label}.com"))
            .unwrap_err()
            .contains("longer than 63"));
        let long = ["abcdefghi"; 26].join(".");
        assert!(long.len() > 253);
        assert!(normalize(&long).unwrap_err().contains("at most 253"));
        assert!(normalize(&"a".repeat(63)).is_ok());
    }
}
