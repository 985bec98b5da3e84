//! Which requests may be repeated.
//!
//! A retry after the request reached an origin is only harmless when sending it
//! twice has the same effect as once. Method names are case-sensitive (RFC 9110
//! §9.1), so `get` is an unknown extension method and is not retried.

/// RFC 9110 §9.2.2: the safe methods plus PUT and DELETE.
pub fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}

/// RFC 9110 §9.2.1: methods that request no change on the origin; the only
/// ones HTTP/3 early data (0-RTT, replayable) may carry (RFC 8470 §3).
pub fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_methods_are_a_subset_of_idempotent_ones() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            assert!(is_safe(m) && is_idempotent(m), "{m}");
        }
        for m in ["PUT", "DELETE", "POST", "PATCH", "CONNECT", "get"] {
            assert!(!is_safe(m), "{m}");
        }
    }

    #[test]
    fn idempotent_methods() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(is_idempotent(m), "{m}");
        }
        for m in [
            "POST", "PATCH", "CONNECT", "get", "Put", "", "PROPFIND", "GET ",
        ] {
            assert!(!is_idempotent(m), "{m}");
        }
    }
}
