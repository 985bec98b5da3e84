//! Reason phrases for the status lines the gateway writes itself.
//!
//! Clients ignore the phrase (RFC 9112 §4), but people reading captures do not, so
//! the gateway's own responses carry the registered one.

/// The registered reason phrase, or `""` for an unregistered code (a status
/// line with an empty reason is valid). One table for the whole workspace: the
/// sans-IO HTTP crate's.
pub use shardgate_http::canonical_reason as reason;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(404), "Not Found");
        assert_eq!(reason(413), "Content Too Large");
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(502), "Bad Gateway");
        assert_eq!(reason(504), "Gateway Timeout");
        assert_eq!(reason(599), "");
        assert_eq!(reason(0), "");
    }

    #[test]
    fn phrases_are_valid_reason_text() {
        // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ): no CR/LF injection.
        for s in 100..=599 {
            assert!(reason(s).bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
        }
    }
}
