//! Hop-by-hop fields: a proxy must not forward them (RFC 9110 §7.6.1).

use httparse::Header;

use crate::fields::list_elements;

/// The fields that describe one connection rather than the message, so a
/// proxy drops them and writes its own. `trailer` is included on request of
/// the proxy design (RFC 2616 listed it); `proxy-connection` is the
/// non-standard field old clients still send.
pub fn is_hop_by_hop(name: &str) -> bool {
    const HOP: [&str; 7] = [
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "transfer-encoding",
        "upgrade",
        "trailer",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Whether a `Connection` field lists `name`: such fields are hop-by-hop
/// too and must be removed before forwarding (RFC 9110 §7.6.1).
pub fn connection_nominates(headers: &[Header], name: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| list_elements(h.value))
        .any(|token| !token.is_empty() && token.eq_ignore_ascii_case(name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_names() {
        for name in [
            "Connection",
            "PROXY-CONNECTION",
            "keep-alive",
            "TE",
            "Transfer-Encoding",
            "upgrade",
            "Trailer",
        ] {
            assert!(is_hop_by_hop(name), "{name}");
        }
        for name in [
            "Host",
            "Content-Length",
            "trailers",
            "tE2",
            "x-connection",
            "",
        ] {
            assert!(!is_hop_by_hop(name), "{name}");
        }
    }

    #[test]
    fn nominated_fields() {
        let headers = [
            Header {
                name: "Host",
                value: b"x-foo",
            },
            Header {
                name: "connection",
                value: b"keep-alive ,\tX-Foo",
            },
            Header {
                name: "Connection",
                value: b"x-bar",
            },
        ];
        assert!(connection_nominates(&headers, "x-foo"));
        assert!(connection_nominates(&headers, "X-BAR"));
        assert!(connection_nominates(&headers, "Keep-Alive"));
        assert!(!connection_nominates(&headers, "x-fo"));
        assert!(!connection_nominates(&headers, "host"));
        assert!(!connection_nominates(&[], "close"));
    }
}
