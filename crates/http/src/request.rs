//! Request heads: httparse for the grammar, then the RFC 9112 framing and
//! Host rules a proxy needs to agree with every backend on message bounds.

use httparse::{Header, ParserConfig};

use crate::error::Error;
use crate::fields::{self, TransferEncoding};
use crate::scan::{self, FirstLine};
use crate::target::{check_target, is_valid_host};
use crate::{BodyKind, HeaderStore, Limits, Parsed};

/// A parsed request head, borrowing from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead<'b> {
    pub method: &'b str,
    pub target: &'b str,
    pub minor_version: u8,
    pub headers: &'b [Header<'b>],
    /// Bytes of the head including ignored leading CRLFs and the final
    /// CRLFCRLF: the body (or the next pipelined request) starts here.
    pub head_len: usize,
    /// `None`, `Length` or `Chunked`; never `CloseDelimited`.
    pub body: BodyKind,
    /// The authority of an absolute- or authority-form target, else `Host`.
    pub host: Option<&'b str>,
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request (ignored for 1.0, RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// The `Upgrade` value when `Connection` lists `upgrade` (HTTP/1.1 only, RFC 9110 §7.8).
    pub upgrade: Option<&'b str>,
}

/// Parses one request head from the start of `buf`.
///
/// `Ok(Parsed::Partial)` means read more (the limits are not yet exceeded).
/// Nothing is allocated: strings borrow `buf`, headers live in `store`.
pub fn parse_request<'s, 'b: 's>(
    buf: &'b [u8],
    limits: &Limits,
    store: &'s mut HeaderStore<'b>,
) -> Result<Parsed<RequestHead<'s>>, Error> {
    let Some(head) = scan::scan_head(buf, limits, FirstLine::Request)? else {
        return Ok(Parsed::Partial);
    };
    let head_bytes = buf.get(..head.len).unwrap_or_default();
    let mut req = httparse::Request::new(&mut []);
    let parsed = ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        head_bytes,
        store.slots(limits.max_headers),
    );
    check_parsed(parsed, &head, buf, "invalid request head", version_error)?;
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(Error::Malformed("incomplete request line"));
    };
    let headers: &'s [Header<'b>] = req.headers;
    let fields = fields::collect(headers)?;

    let target_authority = check_target(method, target)?;
    let host = match fields.host {
        Some(value) => Some(host_str(value)?),
        // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
        None if minor_version == 1 => return Err(Error::Malformed("missing Host")),
        None => None,
    };

    let body = match (fields.transfer_encoding, fields.content_length) {
        (TransferEncoding::Absent, None) => BodyKind::None,
        (TransferEncoding::Absent, Some(n)) => BodyKind::Length(n),
        // RFC 9112 §6.1: in HTTP/1.0 the framing is faulty; CL+TE is the
        // classic smuggling shape (§6.3 lets a server reject it; a proxy must).
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

    let http11 = minor_version == 1;
    if fields.expect && !fields.expect_only_continue {
        return Err(Error::ExpectationFailed);
    }
    let upgrade = match fields.upgrade {
        // h2c (RFC 9113 §3.1: deprecated) is ignored, as a server may ignore
        // any upgrade: a 101 from an h2c origin would open a tunnel in which
        // every later request skips the gateway's routes and rules.
        Some(value) if http11 && fields.connection_upgrade && !offers_h2c(value) => {
            Some(std::str::from_utf8(value).map_err(|_| Error::Malformed("invalid Upgrade"))?)
        }
        _ => None,
    };

    Ok(Parsed::Complete(RequestHead {
        method,
        target,
        minor_version,
        headers,
        head_len: head.len,
        body,
        host: target_authority.or(host),
        keep_alive: !fields.close && (http11 || fields.keep_alive),
        expect_continue: http11 && fields.expect,
        upgrade,
    }))
}

/// Host value → &str, when it is `uri-host [":" port]` or empty (RFC 9110
/// §7.2 lets a client send an empty Host when the URI has no authority).
fn host_str(value: &[u8]) -> Result<&str, Error> {
    if !value.is_empty() && !is_valid_host(value, false) {
        return Err(Error::Malformed("invalid Host"));
    }
    std::str::from_utf8(value).map_err(|_| Error::Malformed("invalid Host"))
}

/// Maps httparse's verdict on a head that `scan_head` already delimited: it
/// must end exactly where the scan said, and its errors become ours.
pub(crate) fn check_parsed(
    parsed: Result<httparse::Status<usize>, httparse::Error>,
    head: &scan::Head,
    buf: &[u8],
    invalid: &'static str,
    version_error: fn(&[u8]) -> Error,
) -> Result<(), Error> {
    match parsed {
        Ok(httparse::Status::Complete(n)) if n == head.len => Ok(()),
        Ok(_) => Err(Error::Malformed("inconsistent head end")),
        Err(httparse::Error::TooManyHeaders) => Err(Error::TooManyHeaders),
        Err(httparse::Error::Version) => {
            let line = buf.get(head.start..head.first_line_end).unwrap_or_default();
            Err(match version_error(line) {
                // The minor digit ends the line.
                Error::NewerMinorVersion { .. } => Error::NewerMinorVersion {
                    at: head.first_line_end - 1,
                },
                e => e,
            })
        }
        Err(_) => Err(Error::Malformed(invalid)),
    }
}

/// httparse only knows "HTTP/1.0" and "HTTP/1.1". `HTTP/1.2`–`HTTP/1.9` is
/// [`Error::NewerMinorVersion`] (its offset filled in by the caller); another
/// well-formed version token is 505 (RFC 9110 §15.6.6); junk is 400.
fn version_error(request_line: &[u8]) -> Error {
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Error::Malformed("invalid HTTP version");
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if !method.is_empty()
                && !target.is_empty()
                && major.is_ascii_digit()
                && minor.is_ascii_digit() =>
        {
            if *major == b'1' && *minor > b'1' {
                Error::NewerMinorVersion { at: 0 }
            } else {
                Error::UnsupportedVersion
            }
        }
        _ => Error::Malformed("invalid HTTP version"),
    }
}

/// Whether an Upgrade field value lists `h2c` (`protocol-name ["/" version]`,
/// comma-separated).
fn offers_h2c(value: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|p| {
        let p = p.trim_ascii();
        let name = p.split(|&b| b == b'/').next().unwrap_or_default();
        name.eq_ignore_ascii_case(b"h2c")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_errors() {
        assert_eq!(version_error(b"GET / HTTP/2.0"), Error::UnsupportedVersion);
        assert_eq!(
            version_error(b"GET / HTTP/1.2"),
            Error::NewerMinorVersion { at: 0 }
        );
        assert_eq!(version_error(b"GET / HTTP/0.9"), Error::UnsupportedVersion);
        assert_eq!(version_error(b"PRI * HTTP/2.0"), Error::UnsupportedVersion);
        for junk in [
            &b"GET / HTTP/1.1x"[..],
            b"GET / HTTP/2",
            b"GET / http/1.1",
            b"GET /  HTTP/1.1",
            b"GET / HTTP/1.1 ",
            b"GET HTTP/2.0",
            b"",
        ] {
            assert_eq!(
                version_error(junk),
                Error::Malformed("invalid HTTP version"),
                "{junk:?}"
            );
        }
    }
}
