//! Response heads from upstream. Same strictness as requests: an upstream
//! that frames ambiguously could desynchronise a pooled connection, so such
//! responses are errors (the caller answers 502 and drops the connection).

use httparse::{Header, ParserConfig};

use crate::error::Error;
use crate::fields::{self, TransferEncoding};
use crate::scan::{self, FirstLine};
use crate::{BodyKind, HeaderStore, Limits, Parsed};

/// A parsed response head, borrowing from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead<'b> {
    pub status: u16,
    /// Empty when absent or when it held non-ASCII bytes (httparse's choice).
    pub reason: &'b str,
    pub minor_version: u8,
    pub headers: &'b [Header<'b>],
    /// Bytes of the head including the final CRLFCRLF.
    pub head_len: usize,
    pub body: BodyKind,
    /// False for HTTP/1.0 without `keep-alive`, `Connection: close`, or a
    /// close-delimited body.
    pub keep_alive: bool,
}

/// Parses one response head from the start of `buf`.
///
/// `request_was_head`: the request was HEAD, so no body follows whatever the
/// headers say (RFC 9112 §6.3). A 2xx answer to CONNECT is a tunnel, which
/// the caller handles before looking at `body`.
pub fn parse_response<'s, 'b: 's>(
    buf: &'b [u8],
    limits: &Limits,
    store: &'s mut HeaderStore<'b>,
    request_was_head: bool,
) -> Result<Parsed<ResponseHead<'s>>, Error> {
    let Some(head) = scan::scan_head(buf, limits, FirstLine::Status)? else {
        return Ok(Parsed::Partial);
    };
    let head_bytes = buf.get(..head.len).unwrap_or_default();
    let mut res = httparse::Response::new(&mut []);
    let parsed = ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        head_bytes,
        store.slots(limits.max_headers),
    );
    crate::request::check_parsed(parsed, &head, buf, "invalid response head", version_error)?;
    let (Some(status), Some(reason), Some(minor_version)) = (res.code, res.reason, res.version)
    else {
        return Err(Error::Malformed("incomplete status line"));
    };
    // RFC 9110 §15: three digits, but only 1xx–5xx are defined classes.
    if !(100..=599).contains(&status) {
        return Err(Error::Malformed("invalid status code"));
    }
    let headers: &'s [Header<'b>] = res.headers;
    let fields = fields::collect(headers)?;

    let framed = match (fields.transfer_encoding, fields.content_length) {
        (TransferEncoding::Absent, None) => BodyKind::CloseDelimited,
        (TransferEncoding::Absent, Some(n)) => BodyKind::Length(n),
        _ if minor_version == 0 => return Err(Error::Malformed("Transfer-Encoding in HTTP/1.0")),
        (_, Some(_)) => {
            return Err(Error::Malformed(
                "both Transfer-Encoding and Content-Length",
            ))
        }
        (TransferEncoding::Chunked, None) => BodyKind::Chunked,
        (TransferEncoding::Unsupported, None) => return Err(Error::UnsupportedTransferCoding),
        (TransferEncoding::Invalid, None) => {
            return Err(Error::Malformed("invalid Transfer-Encoding"))
        }
    };
    // RFC 9112 §6.3 rule 1: these never have a body, whatever the fields say.
    let bodiless =
        request_was_head || (100..200).contains(&status) || status == 204 || status == 304;
    let body = if bodiless { BodyKind::None } else { framed };
    let persistent = !fields.close && (minor_version == 1 || fields.keep_alive);

    Ok(Parsed::Complete(ResponseHead {
        status,
        reason,
        minor_version,
        headers,
        head_len: head.len,
        body,
        keep_alive: persistent && body != BodyKind::CloseDelimited,
    }))
}

/// `HTTP/x.y` with other digits is an unsupported version; anything else is junk.
fn version_error(status_line: &[u8]) -> Error {
    match status_line.split(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor])
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Error::UnsupportedVersion
        }
        _ => Error::Malformed("invalid HTTP version"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_errors() {
        assert_eq!(version_error(b"HTTP/2.0 200 OK"), Error::UnsupportedVersion);
        assert_eq!(version_error(b"HTTP/0.9 200 OK"), Error::UnsupportedVersion);
        assert_eq!(
            version_error(b"ICY 200 OK"),
            Error::Malformed("invalid HTTP version")
        );
        assert_eq!(
            version_error(b"HTTP/1 200 OK"),
            Error::Malformed("invalid HTTP version")
        );
    }
}
