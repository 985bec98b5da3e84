//! Finds where a head ends and enforces the line rules httparse is lenient
//! about, before httparse sees the bytes.
//!
//! httparse accepts a bare LF as a line end; a server behind us that does not
//! (or a proxy in front that does) would then disagree with us on where the
//! head ends, which is the raw material of request smuggling (RFC 9112 §2.2,
//! §11.2). So: every line ends in CRLF, no CR stands alone, and no field line
//! starts with whitespace (obs-fold, RFC 9112 §5.2).

use crate::error::Error;
use crate::Limits;

/// Which limit an over-long first line breaks: a request line is 414, a
/// status line (from upstream) just counts as an oversized head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FirstLine {
    Request,
    Status,
}

/// Where the head is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// Offset of the first line (after ignored leading CRLFs).
    pub start: usize,
    /// Offset of the CR ending the first line.
    pub first_line_end: usize,
    /// Bytes up to and including the final CRLFCRLF.
    pub len: usize,
}

/// `Ok(None)` means the head is incomplete but still within limits.
pub(crate) fn scan_head(
    buf: &[u8],
    limits: &Limits,
    first: FirstLine,
) -> Result<Option<Head>, Error> {
    let max_head = limits.max_head_bytes;
    // A terminator at or past `max_head` cannot end a head of at most
    // `max_head` bytes, so never look further than that.
    let window = buf.get(..buf.len().min(max_head)).unwrap_or(buf);
    let line_too_long = match first {
        FirstLine::Request => Error::RequestLineTooLong,
        FirstLine::Status => Error::HeadTooLarge,
    };

    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
    // received before the request line. Only CRLF; a bare LF is still an error.
    let mut pos = 0;
    loop {
        match (window.get(pos), buf.get(pos + 1)) {
            (Some(b'\r'), Some(b'\n')) => pos += 2,
            (Some(b'\r'), Some(_)) => return Err(Error::Malformed("bare CR")),
            (Some(b'\n'), _) => return Err(Error::Malformed("bare LF")),
            (Some(b'\r'), None) => return incomplete(buf, max_head),
            (Some(_), _) => break,
            (None, _) => return incomplete(buf, max_head),
        }
    }

    let start = pos;
    let mut line_start = pos;
    let mut first_line_end = None;
    loop {
        let rest = window.get(pos..).unwrap_or_default();
        let Some(offset) = memchr::memchr2(b'\r', b'\n', rest) else {
            if first_line_end.is_none()
                && window.len().saturating_sub(line_start) > limits.max_request_line
            {
                return Err(line_too_long);
            }
            return incomplete(buf, max_head);
        };
        let end = pos + offset;
        if first_line_end.is_none() && end - line_start > limits.max_request_line {
            return Err(line_too_long);
        }
        match (window.get(end), buf.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => {}
            (Some(b'\r'), None) => return incomplete(buf, max_head),
            (Some(b'\r'), Some(_)) => return Err(Error::Malformed("bare CR")),
            _ => return Err(Error::Malformed("bare LF")),
        }
        let next = end + 2;
        match first_line_end {
            None => first_line_end = Some(end),
            Some(first_line_end) if end == line_start => {
                if next > max_head {
                    return Err(Error::HeadTooLarge);
                }
                return Ok(Some(Head {
                    start,
                    first_line_end,
                    len: next,
                }));
            }
            Some(_) => {
                if matches!(window.get(line_start), Some(b' ' | b'\t')) {
                    return Err(Error::Malformed("obsolete line folding"));
                }
            }
        }
        pos = next;
        line_start = next;
    }
}

/// Incomplete head: fine unless the bytes already held reach the limit, in
/// which case the complete head could only be larger.
fn incomplete(buf: &[u8], max_head: usize) -> Result<Option<Head>, Error> {
    if buf.len() >= max_head {
        Err(Error::HeadTooLarge)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(line: usize, head: usize) -> Limits {
        Limits {
            max_request_line: line,
            max_head_bytes: head,
            max_headers: 100,
        }
    }

    fn scan(buf: &[u8]) -> Result<Option<Head>, Error> {
        scan_head(buf, &limits(100, 1000), FirstLine::Request)
    }

    #[test]
    fn finds_end_of_head() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        let head = scan(buf).unwrap().unwrap();
        assert_eq!(head.start, 0);
        assert_eq!(head.first_line_end, 14);
        assert_eq!(head.len, buf.len() - 4);
    }

    #[test]
    fn skips_leading_crlfs() {
        let buf = b"\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let head = scan(buf).unwrap().unwrap();
        assert_eq!(head.start, 4);
        assert_eq!(head.first_line_end, 18);
        assert_eq!(head.len, buf.len());
    }

    #[test]
    fn every_prefix_is_partial() {
        let buf = b"\r\nGET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
        for n in 0..buf.len() {
            assert_eq!(scan(&buf[..n]), Ok(None), "prefix {n}");
        }
        assert!(scan(buf).unwrap().is_some());
    }

    #[test]
    fn bare_lf_anywhere_is_rejected() {
        for buf in [
            &b"\nGET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        ] {
            assert_eq!(scan(buf), Err(Error::Malformed("bare LF")), "{buf:?}");
        }
    }

    #[test]
    fn bare_cr_anywhere_is_rejected() {
        for buf in [
            &b"\rGET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\rX\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\rX",
        ] {
            assert_eq!(scan(buf), Err(Error::Malformed("bare CR")), "{buf:?}");
        }
    }

    #[test]
    fn obs_fold_is_rejected() {
        for buf in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n",
            b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
        ] {
            assert_eq!(scan(buf), Err(Error::Malformed("obsolete line folding")));
        }
    }

    #[test]
    fn request_line_limit_is_414_complete_or_not() {
        let l = limits(10, 1000);
        // exactly 10 bytes of line is fine
        let ok = b"GET /12345\r\n\r\n";
        assert!(scan_head(ok, &l, FirstLine::Request).unwrap().is_some());
        let long = b"GET /123456\r\n\r\n";
        assert_eq!(
            scan_head(long, &l, FirstLine::Request),
            Err(Error::RequestLineTooLong)
        );
        // partial: 10 bytes without a terminator may still end in time
        assert_eq!(scan_head(b"GET /12345", &l, FirstLine::Request), Ok(None));
        assert_eq!(scan_head(b"GET /12345\r", &l, FirstLine::Request), Ok(None));
        assert_eq!(
            scan_head(b"GET /123456", &l, FirstLine::Request),
            Err(Error::RequestLineTooLong)
        );
        // a status line is only bounded as part of the head
        assert_eq!(
            scan_head(long, &l, FirstLine::Status),
            Err(Error::HeadTooLarge)
        );
    }

    #[test]
    fn header_lines_are_not_bound_by_the_request_line_limit() {
        let l = limits(16, 1000);
        let buf = b"GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        assert!(scan_head(buf, &l, FirstLine::Request).unwrap().is_some());
    }

    #[test]
    fn head_limit_is_431_complete_or_not() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"; // 27 bytes
        assert!(scan_head(buf, &limits(100, 27), FirstLine::Request)
            .unwrap()
            .is_some());
        assert_eq!(
            scan_head(buf, &limits(100, 26), FirstLine::Request),
            Err(Error::HeadTooLarge)
        );
        // partial with the limit already reached
        assert_eq!(
            scan_head(&buf[..20], &limits(100, 20), FirstLine::Request),
            Err(Error::HeadTooLarge)
        );
        assert_eq!(
            scan_head(&buf[..19], &limits(100, 20), FirstLine::Request),
            Ok(None)
        );
        // endless leading empty lines are bounded too
        let crlfs = b"\r\n".repeat(20);
        assert_eq!(
            scan_head(&crlfs, &limits(100, 30), FirstLine::Request),
            Err(Error::HeadTooLarge)
        );
    }

    #[test]
    fn bytes_after_the_head_are_not_inspected() {
        let buf = b"GET / HTTP/1.1\r\n\r\n\n\rgarbage\0";
        assert_eq!(scan(buf).unwrap().unwrap().len, 18);
    }
}
