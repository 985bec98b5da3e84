//! Request-target forms (RFC 9112 §3.2).
//!
//! Clients talking to a proxy may send absolute-form (`http://host/path`); origin
//! servers expect origin-form (`/path`). The authority of an absolute-form target
//! overrides the Host field (RFC 9112 §3.2.2), so both halves are needed.

pub use shardgate_http::{absolute_authority, origin_form};

/// What to put on the upstream request line for `method`'s `target`:
/// `(needs_leading_slash, rest)`.
pub(crate) fn upstream_target<'a>(method: &str, target: &'a str) -> (bool, &'a str) {
    match shardgate_http::split_absolute_form(target) {
        // A fragment is never sent (RFC 9110 §4.2.5); one in a target is dropped.
        Some((_, rest)) => {
            let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
            // RFC 9112 §3.2.4: an OPTIONS for the server as a whole (empty
            // path, no query) reaches the origin as `*`, from the last proxy.
            if rest.is_empty() && method == "OPTIONS" {
                return (false, "*");
            }
            (!rest.starts_with('/'), rest)
        }
        None => (false, target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_form() {
        assert_eq!(origin_form("http://example.com/a/b?c=d"), "/a/b?c=d");
        assert_eq!(origin_form("HTTP://example.com"), "/");
        assert_eq!(origin_form("http://example.com?q"), "/");
        assert_eq!(origin_form("https://example.com:8443/x"), "/x");
        assert_eq!(
            absolute_authority("http://Example.com:8080/x"),
            Some("Example.com:8080")
        );
        assert_eq!(absolute_authority("http://user:pw@h.com/x"), Some("h.com"));
        assert_eq!(absolute_authority("http://[::1]:80/x"), Some("[::1]:80"));
        assert_eq!(absolute_authority("http:///x"), None);
        assert_eq!(upstream_target("GET", "http://h?q"), (true, "?q"));
        assert_eq!(upstream_target("GET", "http://h"), (true, ""));
        assert_eq!(upstream_target("GET", "http://h/p#frag"), (false, "/p"));
        assert_eq!(upstream_target("OPTIONS", "http://h:8001"), (false, "*"));
        assert_eq!(upstream_target("OPTIONS", "http://h#f"), (false, "*"));
        assert_eq!(upstream_target("OPTIONS", "http://h/"), (false, "/"));
        assert_eq!(upstream_target("OPTIONS", "http://h?q"), (true, "?q"));
    }

    #[test]
    fn other_forms_unchanged() {
        for t in ["/", "/a?b=http://x/y", "*", "example.com:443", "/p://q"] {
            assert_eq!(origin_form(t), t);
            assert_eq!(absolute_authority(t), None);
            assert_eq!(upstream_target("GET", t), (false, t));
        }
        // Not a scheme: must start with a letter and hold only scheme characters.
        assert_eq!(origin_form("1http://h/x"), "1http://h/x");
        assert_eq!(origin_form("a b://h/x"), "a b://h/x");
        assert_eq!(origin_form("://h/x"), "://h/x");
    }
}
