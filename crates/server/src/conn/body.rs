//! Streaming a message body from one socket to another (or into the void) in the
//! framing it arrived in. Chunked bodies are forwarded verbatim: the decoder only
//! validates them and finds where the message ends, it copies nothing.

use std::time::Duration;

use shardgate_http::{BodyKind, ChunkedDecoder};
use shardgate_proxy::{Error, ErrorKind};

use super::io::{read_at_most, write_range, Io, IoFail};
use super::splice::{self, SpliceFail, SPLICE_MIN};
use crate::lifecycle::Replay;
use crate::pipes::{PipePool, PooledPipe};

/// What splicing a body takes: the shard's pipes, and the counter of the
/// bytes they moved.
#[derive(Clone, Copy)]
pub struct Splicer<'a> {
    pub pipes: &'a PipePool,
    pub bytes: &'a metrics::Counter,
}

/// After a spliced run of chunk data the next bytes are framing (CRLF,
/// the next size line): read only that much, so that a large next chunk's
/// data is spliced too rather than copied with its size line.
const FRAMING_READ: usize = 1024;

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
    fn src(self, f: IoFail) -> Error {
        let kind = match (self, f) {
            (Direction::Request, IoFail::Timeout) => ErrorKind::ClientTimeout,
            (Direction::Request, IoFail::Io(_)) => ErrorKind::ClientClosed,
            (Direction::Response, IoFail::Timeout) => ErrorKind::UpstreamTimeout,
            (Direction::Response, IoFail::Io(_)) => ErrorKind::UpstreamReset,
        };
        Error::new(kind).with_errno(f.errno())
    }

    /// The sender closed before the body's end.
    fn src_eof(self) -> Error {
        Error::new(match self {
            Direction::Request => ErrorKind::ClientClosed,
            Direction::Response => ErrorKind::UpstreamReset,
        })
    }

    /// The sender broke the framing (bad chunk syntax).
    fn malformed(self) -> Error {
        Error::new(match self {
            Direction::Request => ErrorKind::ClientMalformed { status: 400 },
            Direction::Response => ErrorKind::UpstreamMalformed,
        })
    }

    /// The receiver failed or stopped reading.
    fn dst(self, f: IoFail) -> Error {
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
            BodyState::Chunked(dec) | BodyState::Dechunk(dec) => Ok(dec.feed(data)?.consumed),
        }
    }
}

/// One side of a body transfer: the socket, its read buffer and how far the
/// buffer has been consumed.
pub struct Source<'a, R> {
    pub stream: &'a mut R,
    pub buf: &'a mut Vec<u8>,
    pub pos: &'a mut usize,
    pub read_timeout: Duration,
}

/// What [`pump`] did.
#[derive(Debug)]
pub struct Pumped {
    /// Body bytes taken from the sender, framing included (for the body-size
    /// limit and the request's byte count); those whose write failed count
    /// too: a retry goes on after them.
    pub taken: u64,
    /// Bytes the receiver got (chunk framing not counted when de-chunking),
    /// also when the transfer then failed: the response's byte count.
    pub delivered: u64,
    pub result: Result<(), Error>,
}

/// Moves the rest of the body from `src` to `dst` (or discards it when `dst` is
/// None). Bytes after the body's end stay in `src.buf[*src.pos..]` (a pipelined
/// request, say). A failure says whose it was by `dir`. `keep` gets a copy of
/// every byte before it is written (a request body kept for a retry); the
/// bytes count as taken from `src` even when their write fails, so a retry
/// goes on after them.
///
/// With a splicer, runs of at least `SPLICE_MIN` opaque bytes (see
/// [`BodyState::opaque_run`]) between two plain sockets are spliced
/// instead of copied through `src.buf` (ADR 22); the framing around them,
/// and everything when no pipe is free, takes the buffer.
#[allow(clippy::too_many_arguments)]
pub async fn pump<R: Io, W: Io>(
    state: &mut BodyState,
    src: Source<'_, R>,
    dst: Option<&mut W>,
    write_timeout: Duration,
    limit: u64,
    dir: Direction,
    keep: Option<&mut Replay>,
    splicer: Option<Splicer<'_>>,
) -> Pumped {
    let mut pipe = None;
    let mut done = Pumped {
        taken: 0,
        delivered: 0,
        result: Ok(()),
    };
    let ends = Ends {
        dst,
        write_timeout,
        limit,
        dir,
        keep,
    };
    done.result = pump_with(state, src, ends, splicer, &mut pipe, &mut done).await;
    if let (Some(sp), Some(p)) = (splicer, pipe) {
        sp.pipes.give(p);
    }
    done
}

/// [`pump`]'s receiving side and rules.
struct Ends<'a, W> {
    dst: Option<&'a mut W>,
    write_timeout: Duration,
    limit: u64,
    dir: Direction,
    keep: Option<&'a mut Replay>,
}

/// [`pump`], with the pipe it took kept in `pipe` (for the pool) and its
/// counts in `n` (also when it fails).
async fn pump_with<R: Io, W: Io>(
    state: &mut BodyState,
    src: Source<'_, R>,
    mut e: Ends<'_, W>,
    mut splicer: Option<Splicer<'_>>,
    pipe: &mut Option<PooledPipe>,
    n: &mut Pumped,
) -> Result<(), Error> {
    let dir = e.dir;
    // Chunked bodies are limited by their decoded size, which the state carries
    // across calls; other framings by the bytes taken here (a Content-Length
    // over the limit is refused before any byte moves).
    // Only a de-chunked body needs a copy (the framing is cut out of it).
    let mut plain = Vec::new();
    loop {
        if src.buf.len() > *src.pos && matches!(state, BodyState::Dechunk(_)) {
            let from = *src.pos;
            plain.clear();
            let took = state
                .advance_into(src.buf.get(from..).unwrap_or_default(), &mut plain)
                .map_err(|_| dir.malformed())?;
            n.taken += took as u64;
            if let Some(d) = e.dst.as_deref_mut() {
                super::io::write_all(d, &mut plain, e.write_timeout)
                    .await
                    .map_err(|f| dir.dst(f))?;
            }
            n.delivered += plain.len() as u64;
            *src.pos = from + took;
        } else if src.buf.len() > *src.pos {
            let from = *src.pos;
            let took = state
                .advance(src.buf.get(from..).unwrap_or_default())
                .map_err(|_| dir.malformed())?;
            n.taken += took as u64;
            if state.over_limit(e.limit, n.taken) {
                return Err(Error::new(ErrorKind::BodyTooLarge));
            }
            if let Some(k) = e.keep.as_deref_mut() {
                k.keep(src.buf.get(from..from + took).unwrap_or_default());
            }
            *src.pos = from + took;
            if let Some(d) = e.dst.as_deref_mut() {
                write_range(d, src.buf, from, from + took, e.write_timeout)
                    .await
                    .map_err(|f| dir.dst(f))?;
            }
            n.delivered += took as u64;
        }
        if state.is_done() {
            return Ok(());
        }
        src.buf.clear();
        *src.pos = 0;
        let mut read_max = usize::MAX;
        let run = state.opaque_run();
        if let (Some(sp), true) = (splicer, run >= SPLICE_MIN && e.keep.is_none()) {
            let ends = (src.stream.tcp(), e.dst.as_deref().and_then(Io::tcp));
            if let (Some(from), Some(to)) = ends {
                if pipe.is_none() {
                    *pipe = sp.pipes.take();
                }
                let Some(p) = pipe.as_mut() else {
                    // None free: this body is copied.
                    splicer = None;
                    continue;
                };
                let mut moved = 0;
                let r = splice::run(
                    p,
                    from,
                    to,
                    run,
                    src.read_timeout,
                    e.write_timeout,
                    &mut moved,
                )
                .await;
                sp.bytes.increment(moved);
                n.taken += moved;
                n.delivered += moved;
                let eof = r.map_err(|f| match f {
                    SpliceFail::Src(f) => dir.src(f),
                    SpliceFail::Dst(f) => dir.dst(f),
                })?;
                state.skip(moved).map_err(|_| dir.malformed())?;
                if state.over_limit(e.limit, n.taken) {
                    return Err(Error::new(ErrorKind::BodyTooLarge));
                }
                if eof {
                    if matches!(state, BodyState::UntilEof) {
                        *state = BodyState::Done;
                        return Ok(());
                    }
                    return Err(dir.src_eof());
                }
                if state.is_done() {
                    return Ok(());
                }
                read_max = FRAMING_READ;
            }
        }
        match read_at_most(src.stream, src.buf, read_max, src.read_timeout).await {
            Ok(0) => {
                if matches!(state, BodyState::UntilEof) {
                    *state = BodyState::Done;
                    return Ok(());
                }
                return Err(dir.src_eof());
            }
            Ok(_) => {}
            Err(f) => return Err(dir.src(f)),
        }
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
