use crate::reason::canonical_reason;

/// Everything that can be wrong with a message on the wire.
///
/// Each variant maps to the status a server answers a bad *request* with;
/// for a bad *response* the caller answers its client 502 instead. The
/// `&'static str` details say which rule fired, for logs, without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Syntax or framing violation (400).
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// Invalid chunked framing in a body (400).
    #[error("invalid chunked body: {0}")]
    Chunked(&'static str),
    /// No line end within `max_request_line` bytes (414).
    #[error("request line too long")]
    RequestLineTooLong,
    /// Head larger than `max_head_bytes` (431).
    #[error("header section too large")]
    HeadTooLarge,
    /// More header fields than `max_headers` (431).
    #[error("too many header fields")]
    TooManyHeaders,
    /// A transfer coding other than a lone `chunked` (501).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// Well-formed `HTTP/x.y` but not 1.0 or 1.1 (505).
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// A request in `HTTP/1.y` with `y` above 1, its minor digit at byte
    /// `at` of the parsed buffer. RFC 9110 §2.5: the recipient SHOULD treat
    /// it as the highest 1.x it implements; a caller that cannot answers 505.
    #[error("newer HTTP/1 minor version")]
    NewerMinorVersion { at: usize },
    /// An `Expect` other than `100-continue` (417).
    #[error("unsupported expectation")]
    ExpectationFailed,
}

impl Error {
    /// The status to answer a client whose request caused this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::Malformed(_) | Error::Chunked(_) => 400,
            Error::RequestLineTooLong => 414,
            Error::HeadTooLarge | Error::TooManyHeaders => 431,
            Error::UnsupportedTransferCoding => 501,
            Error::UnsupportedVersion | Error::NewerMinorVersion { .. } => 505,
            Error::ExpectationFailed => 417,
        }
    }

    /// The canonical reason phrase for [`Error::status`].
    pub fn reason(&self) -> &'static str {
        canonical_reason(self.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_reasons() {
        let cases = [
            (Error::Malformed("x"), 400, "Bad Request"),
            (Error::Chunked("x"), 400, "Bad Request"),
            (Error::RequestLineTooLong, 414, "URI Too Long"),
            (Error::HeadTooLarge, 431, "Request Header Fields Too Large"),
            (
                Error::TooManyHeaders,
                431,
                "Request Header Fields Too Large",
            ),
            (Error::UnsupportedTransferCoding, 501, "Not Implemented"),
            (Error::UnsupportedVersion, 505, "HTTP Version Not Supported"),
            (
                Error::NewerMinorVersion { at: 0 },
                505,
                "HTTP Version Not Supported",
            ),
            (Error::ExpectationFailed, 417, "Expectation Failed"),
        ];
        for (err, status, reason) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.reason(), reason, "{err:?}");
        }
    }

    #[test]
    fn display_names_the_rule() {
        let text = Error::Malformed("duplicate Host").to_string();
        assert_eq!(text, "malformed message: duplicate Host");
    }
}
