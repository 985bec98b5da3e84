//! Which fields may travel in a trailer section, for a proxy that forwards
//! one: RFC 9110 §6.5.1 lists what cannot be processed after the content
//! (framing, routing, request modifiers, authentication, response controls,
//! content metadata). A recipient that merged such a field into the header
//! section (some do) would act on a value no intermediary checked, so the
//! gateway drops them on every path: HTTP/1.1 to HTTP/1.1, and both ways
//! between HTTP/3 and HTTP/1.1.

const NOT_IN_TRAILERS: [&[u8]; 18] = [
    b"authorization",
    b"cache-control",
    b"connection",
    b"content-encoding",
    b"content-length",
    b"content-range",
    b"content-type",
    b"cookie",
    b"expect",
    b"host",
    b"keep-alive",
    b"max-forwards",
    b"proxy-authorization",
    b"range",
    b"set-cookie",
    b"te",
    b"trailer",
    b"transfer-encoding",
];

/// Whether a field of this name may be forwarded in a trailer section
/// (case-insensitive; an HTTP/3 pseudo-field never may).
pub fn forwardable_trailer(name: &[u8]) -> bool {
    !name.starts_with(b":") && !NOT_IN_TRAILERS.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Whether every field of a (validated) trailer section may be forwarded:
/// then the section goes on as it came, with no copy.
pub fn trailer_section_is_forwardable(section: &[u8]) -> bool {
    section
        .split(|&b| b == b'\n')
        .filter(|line| line.len() > 1)
        .all(|line| forwardable_trailer(line.split(|&b| b == b':').next().unwrap_or_default()))
}

/// Appends `section` to `out` without the fields that may not be trailers.
/// `section` is a trailer section the chunked decoder validated: field
/// lines, each ended by CRLF, then the final CRLF.
pub fn filter_trailer_section(section: &[u8], out: &mut Vec<u8>) {
    let mut rest = section;
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let (line, after) = rest.split_at(end + 2);
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        // The final CRLF (an empty line) is kept: it ends the message.
        if line.len() == 2 || forwardable_trailer(name) {
            out.extend_from_slice(line);
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_routing_and_credentials_are_dropped() {
        let section =
            b"X-Checksum: 1\r\nContent-Length: 5\r\nTRANSFER-ENCODING: chunked\r\nhost: evil\r\n\
              Authorization: Basic x\r\nx-b: 2\r\n\r\n";
        let mut out = Vec::new();
        filter_trailer_section(section, &mut out);
        assert_eq!(out, b"X-Checksum: 1\r\nx-b: 2\r\n\r\n");
        let mut out = Vec::new();
        filter_trailer_section(b"\r\n", &mut out);
        assert_eq!(out, b"\r\n");
        let mut out = Vec::new();
        filter_trailer_section(b"content-type: x\r\n\r\n", &mut out);
        assert_eq!(out, b"\r\n", "every field dropped: the message still ends");
        assert!(!trailer_section_is_forwardable(section));
        assert!(trailer_section_is_forwardable(b"\r\n"));
        assert!(trailer_section_is_forwardable(
            b"X-A: 1\r\ngrpc-status: 0\r\n\r\n"
        ));
        assert!(!trailer_section_is_forwardable(
            b"X-A: 1\r\nHost: b\r\n\r\n"
        ));
        assert!(!forwardable_trailer(b":status"));
        assert!(forwardable_trailer(b"grpc-status"));
    }
}
