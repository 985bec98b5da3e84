//! A message body's framing and progress: where it ends, what of it may
//! move untouched (`opaque_run`), and whose fault a failure is. Chunked
//! bodies are forwarded verbatim: the decoder only validates them and finds
//! where the message ends, it copies nothing. The moving itself is
//! `pump.rs`.

use shardgate_http::{BodyKind, ChunkedDecoder};
use shardgate_proxy::{Error, ErrorKind};

use super::io::IoFail;

/// Where a body stands.
pub enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Chunked on the wire, forwarded as plain bytes (to an HTTP/1.0 client,
    /// which then sees a close-delimited body).
    Dechunk(ChunkedDecoder),
    /// Close-delimited: the body ends when the sender closes.
    UntilEof,
    Done,
}

/// Which way a body moves; it decides whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client → upstream (or client → discarded).
    Request,
    /// Upstream → client.
    Response,
}

impl Direction {
    /// The sender failed or timed out.
    pub(super) fn src(self, f: IoFail) -> Error {
        let kind = match (self, f) {
            (Direction::Request, IoFail::Timeout) => ErrorKind::ClientTimeout,
            (Direction::Request, IoFail::Io(_)) => ErrorKind::ClientClosed,
            (Direction::Response, IoFail::Timeout) => ErrorKind::UpstreamTimeout,
            (Direction::Response, IoFail::Io(_)) => ErrorKind::UpstreamReset,
        };
        Error::new(kind).with_errno(f.errno())
    }

    /// The sender closed before the body's end.
    pub(super) fn src_eof(self) -> Error {
        Error::new(match self {
            Direction::Request => ErrorKind::ClientClosed,
            Direction::Response => ErrorKind::UpstreamReset,
        })
    }

    /// The sender broke the framing (bad chunk syntax).
    pub(super) fn malformed(self) -> Error {
        Error::new(match self {
            Direction::Request => ErrorKind::ClientMalformed { status: 400 },
            Direction::Response => ErrorKind::UpstreamMalformed,
        })
    }

    /// The receiver failed or stopped reading.
    pub(super) fn dst(self, f: IoFail) -> Error {
        let kind = match (self, f) {
            (Direction::Request, IoFail::Timeout) => ErrorKind::UpstreamTimeout,
            (Direction::Request, IoFail::Io(_)) => ErrorKind::UpstreamReset,
            (Direction::Response, _) => ErrorKind::ClientClosed,
        };
        Error::new(kind).with_errno(f.errno())
    }
}

impl BodyState {
    pub fn new(kind: BodyKind) -> Self {
        match kind {
            BodyKind::None | BodyKind::Length(0) => BodyState::Done,
            BodyKind::Length(n) => BodyState::Length(n),
            BodyKind::Chunked => BodyState::Chunked(ChunkedDecoder::new()),
            BodyKind::CloseDelimited => BodyState::UntilEof,
        }
    }

    /// Forward a chunked body as plain bytes.
    pub fn dechunked(kind: BodyKind) -> Self {
        match kind {
            BodyKind::Chunked => BodyState::Dechunk(ChunkedDecoder::new()),
            other => Self::new(other),
        }
    }

    /// Consumes the body's prefix of `data`, appending to `out` what the
    /// receiver must get (the same bytes, or only the chunk data when
    /// de-chunking). Returns how much of `data` was consumed.
    pub fn advance_into(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, shardgate_http::Error> {
        if let BodyState::Dechunk(dec) = self {
            let feed = dec.feed_with(data, |r| {
                out.extend_from_slice(data.get(r).unwrap_or_default())
            })?;
            return Ok(feed.consumed);
        }
        let n = self.advance(data)?;
        out.extend_from_slice(data.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// De-chunking: consumes the body's prefix of `buf` and moves its
    /// chunk data to `buf[..plain]`, in place (no second buffer: nothing
    /// allocated per request). Returns (consumed, plain).
    pub fn dechunk_in_place(
        &mut self,
        buf: &mut [u8],
    ) -> Result<(usize, usize), shardgate_http::Error> {
        let BodyState::Dechunk(dec) = self else {
            return Err(shardgate_http::Error::Malformed("not a de-chunked body"));
        };
        let d = dec.dechunk_in_place(buf)?;
        Ok((d.consumed, d.plain))
    }

    pub fn is_done(&self) -> bool {
        match self {
            BodyState::Done => true,
            BodyState::Chunked(dec) | BodyState::Dechunk(dec) => dec.is_done(),
            _ => false,
        }
    }

    /// Decoded chunk-data bytes seen so far (framing not counted), for the body
    /// size limit; `None` for other framings (their length is known up front).
    pub fn chunked_data_len(&self) -> Option<u64> {
        match self {
            BodyState::Chunked(dec) | BodyState::Dechunk(dec) => Some(dec.data_len()),
            _ => None,
        }
    }

    /// Whether the body has gone past `limit` (0 = no limit).
    pub fn over_limit(&self, limit: u64, moved: u64) -> bool {
        limit > 0 && self.chunked_data_len().unwrap_or(moved) > limit
    }

    /// Body bytes that come next and may move without being looked at: the
    /// rest of a Content-Length body, all of a close-delimited one, the
    /// current chunk's data (0 when framing comes next, or at the end).
    pub fn opaque_run(&self) -> u64 {
        match self {
            BodyState::Length(n) => *n,
            BodyState::UntilEof => u64::MAX,
            BodyState::Chunked(dec) | BodyState::Dechunk(dec) => dec.data_remaining(),
            BodyState::Done => 0,
        }
    }

    /// Accounts for `n` bytes of the opaque run that moved without passing
    /// through [`advance`](Self::advance) (spliced); at most the run.
    pub fn skip(&mut self, n: u64) -> Result<(), shardgate_http::Error> {
        if n > self.opaque_run() {
            return Err(shardgate_http::Error::Malformed("skipped past the body"));
        }
        match self {
            BodyState::Length(rem) => {
                *rem -= n;
                if *rem == 0 {
                    *self = BodyState::Done;
                }
            }
            BodyState::Chunked(dec) | BodyState::Dechunk(dec) => dec.skip_data(n)?,
            BodyState::UntilEof | BodyState::Done => {}
        }
        Ok(())
    }

    /// Consumes the prefix of `data` that belongs to the body and returns its length.
    pub fn advance(&mut self, data: &[u8]) -> Result<usize, shardgate_http::Error> {
        match self {
            BodyState::Done => Ok(0),
            BodyState::UntilEof => Ok(data.len()),
            BodyState::Length(rem) => {
                let take = (*rem).min(data.len() as u64);
                *rem -= take;
                if *rem == 0 {
                    *self = BodyState::Done;
                }
                Ok(take as usize)
            }
            // Only `end_with_trailers` goes past this point.
            BodyState::Chunked(dec) if dec.trailers_ahead() => Ok(0),
            BodyState::Chunked(dec) => {
                let mut n = dec.feed_to_trailers(data)?.consumed;
                // The usual end (no trailer field, or only ones that may
                // cross, all here) goes on with the rest, in the same write.
                // Otherwise the body stops before its trailer section, which
                // the pump takes whole and filters (`trailers_ahead`).
                if dec.trailers_ahead() {
                    let rest = data.get(n..).unwrap_or_default();
                    let mut whole = dec.clone();
                    if let Ok(f) = whole.feed(rest) {
                        let section = rest.get(..f.consumed).unwrap_or_default();
                        if f.done && shardgate_http::trailer_section_is_forwardable(section) {
                            *dec = whole;
                            n += f.consumed;
                        }
                    }
                }
                Ok(n)
            }
            // De-chunked, the trailers are dropped with the rest of the framing.
            BodyState::Dechunk(dec) => Ok(dec.feed(data)?.consumed),
        }
    }

    /// Ends a body whose trailer section was ahead with `section`, all of
    /// it (as [`trailer_section_len`](Self::trailer_section_len) measured).
    pub fn end_with_trailers(&mut self, section: &[u8]) -> Result<(), shardgate_http::Error> {
        let not_whole = shardgate_http::Error::Chunked("not a whole trailer section");
        match self {
            BodyState::Chunked(dec) if dec.trailers_ahead() => {
                if dec.feed(section)?.done {
                    Ok(())
                } else {
                    Err(not_whole)
                }
            }
            _ => Err(not_whole),
        }
    }

    /// A verbatim chunked body whose trailer section comes next.
    pub fn trailers_ahead(&self) -> bool {
        matches!(self, BodyState::Chunked(dec) if dec.trailers_ahead())
    }

    /// How long the trailer section at the start of `data` is, once `data`
    /// holds all of it (None: read more). Validated on a copy of the
    /// decoder: a malformed or oversized section fails without waiting for
    /// its end, and nothing is consumed.
    pub fn trailer_section_len(&self, data: &[u8]) -> Result<Option<usize>, shardgate_http::Error> {
        let BodyState::Chunked(dec) = self else {
            return Ok(None);
        };
        let f = dec.clone().feed(data)?;
        Ok(f.done.then_some(f.consumed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_state_takes_only_its_bytes() {
        let mut s = BodyState::new(BodyKind::Length(5));
        assert_eq!(s.advance(b"abc").unwrap(), 3);
        assert!(!s.is_done());
        assert_eq!(s.advance(b"defGET /").unwrap(), 2);
        assert!(s.is_done());
        assert_eq!(s.advance(b"more").unwrap(), 0);
    }

    #[test]
    fn chunked_state_stops_at_message_end() {
        let mut s = BodyState::new(BodyKind::Chunked);
        let data = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let n = s.advance(data).unwrap();
        assert_eq!(n, 13);
        assert!(s.is_done());
    }

    #[test]
    fn chunked_state_stops_before_trailers_that_need_a_look() {
        // All here and forwardable: no stop.
        let mut s = BodyState::new(BodyKind::Chunked);
        assert_eq!(s.advance(b"0\r\nx-a: 1\r\n\r\nGET").unwrap(), 13);
        assert!(s.is_done());
        // A field to drop: the section is left for the pump.
        let mut s = BodyState::new(BodyKind::Chunked);
        assert_eq!(s.advance(b"0\r\nhost: b\r\n\r\n").unwrap(), 3);
        assert!(s.trailers_ahead());
        // Not all here: likewise.
        let mut s = BodyState::new(BodyKind::Chunked);
        let data = b"3\r\nabc\r\n0\r\nx-a: 1\r\n\r\nGET /";
        assert_eq!(s.advance(&data[..15]).unwrap(), 11);
        assert!(s.trailers_ahead());
        let rest = &data[11..];
        assert_eq!(
            s.advance(rest).unwrap(),
            0,
            "only end_with_trailers goes on"
        );
        assert_eq!(s.trailer_section_len(&rest[..5]).unwrap(), None);
        assert_eq!(s.trailer_section_len(rest).unwrap(), Some(10));
        assert!(s.trailer_section_len(b"x a: 1\r\n\r\n").is_err());
        assert!(s.trailers_ahead(), "probing consumed nothing");
        let mut part = BodyState::new(BodyKind::Chunked);
        part.advance(&data[..11]).unwrap();
        assert!(
            part.end_with_trailers(&rest[..5]).is_err(),
            "part of a section"
        );
        s.end_with_trailers(&rest[..10]).unwrap();
        assert!(s.is_done());
    }

    #[test]
    fn dechunk_keeps_only_chunk_data() {
        let mut s = BodyState::dechunked(BodyKind::Chunked);
        let mut out = Vec::new();
        let n = s
            .advance_into(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nX", &mut out)
            .unwrap();
        assert_eq!(out, b"abcde");
        assert_eq!(n, 20);
        assert!(s.is_done());
    }

    #[test]
    fn no_body_and_zero_length_are_done_at_once() {
        assert!(BodyState::new(BodyKind::None).is_done());
        assert!(BodyState::new(BodyKind::Length(0)).is_done());
        assert!(!BodyState::new(BodyKind::CloseDelimited).is_done());
    }
}
