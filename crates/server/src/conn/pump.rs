//! Moving a body from one socket to another (or into the void) in the
//! framing it arrived in: through the connection's buffer, or for long
//! opaque runs between plain sockets through a pipe (`splice.rs`, ADR 22).

use std::time::Duration;

use shardgate_proxy::{Error, ErrorKind};

use super::body::{BodyState, Direction};
use super::io::{read_at_most, write_range, Io};
use super::splice::{self, RunEnd, SpliceFail, SPLICE_MIN};
use super::trailers;
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
    /// The sender sent bytes past the body's end that a splice took from
    /// its socket (they were not forwarded): its connection must not be
    /// reused. Such bytes read into `src.buf` stay there instead.
    pub overrun: bool,
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
        overrun: false,
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
    // Only a trailer section with a field to drop needs a copy (rare: the
    // usual section crosses verbatim).
    let mut plain = Vec::new();
    loop {
        if state.trailers_ahead() {
            // Taken whole and written filtered: the body ends with it.
            let len =
                trailers::take(state, src.stream, src.buf, src.pos, src.read_timeout, dir).await?;
            let from = *src.pos;
            let section = src.buf.get(from..from + len).unwrap_or_default();
            state
                .end_with_trailers(section)
                .map_err(|_| dir.malformed())?;
            n.taken += len as u64;
            *src.pos = from + len;
            // Only a section with a field to drop is copied.
            let verbatim = shardgate_http::trailer_section_is_forwardable(section);
            if !verbatim {
                plain.clear();
                shardgate_http::filter_trailer_section(section, &mut plain);
            }
            let out = if verbatim { section } else { &plain[..] };
            if let Some(k) = e.keep.as_deref_mut() {
                k.keep(out);
            }
            let sent = out.len() as u64;
            if let Some(d) = e.dst.as_deref_mut() {
                let r = if verbatim {
                    write_range(d, src.buf, from, from + len, e.write_timeout).await
                } else {
                    super::io::write_all(d, &mut plain, e.write_timeout).await
                };
                r.map_err(|f| dir.dst(f))?;
            }
            n.delivered += sent;
        } else if src.buf.len() > *src.pos && matches!(state, BodyState::Dechunk(_)) {
            // The chunk data moves to the front of its own bytes in `src.buf`;
            // what follows the body stays where it is.
            let from = *src.pos;
            let (took, kept) = state
                .dechunk_in_place(src.buf.get_mut(from..).unwrap_or_default())
                .map_err(|_| dir.malformed())?;
            n.taken += took as u64;
            *src.pos = from + took;
            if let Some(d) = e.dst.as_deref_mut() {
                write_range(d, src.buf, from, from + kept, e.write_timeout)
                    .await
                    .map_err(|f| dir.dst(f))?;
            }
            n.delivered += kept as u64;
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
        if state.trailers_ahead() {
            // The section may already be in the buffer: not cleared.
            continue;
        }
        src.buf.clear();
        *src.pos = 0;
        let mut read_max = usize::MAX;
        let run = state.opaque_run();
        // A spliced run is checked against the body-size limit before it
        // moves, as a buffered read is checked before its write: a chunk
        // longer than what the limit leaves would carry the body past it.
        // (A Content-Length body over the limit was refused at its head.)
        if e.limit > 0 && run != u64::MAX && run >= SPLICE_MIN {
            let so_far = state.chunked_data_len().unwrap_or(n.taken);
            if run > e.limit.saturating_sub(so_far) {
                return Err(Error::new(ErrorKind::BodyTooLarge));
            }
        }
        // A body kept for a retry must pass through the copy; once the copy
        // is dropped (outgrown, or none wanted) it may be spliced.
        let copying = e.keep.as_deref().is_some_and(Replay::keeping);
        if let (Some(sp), true) = (splicer, run >= SPLICE_MIN && !copying) {
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
                // A Content-Length response ends with the run: the last fill
                // probes for bytes past it (an origin that sent more). Not a
                // request: bytes after its body are the client's next
                // (pipelined) request, which must stay in its socket.
                let probe = dir == Direction::Response && matches!(state, BodyState::Length(_));
                let r = splice::run(
                    p,
                    from,
                    to,
                    run,
                    probe,
                    src.read_timeout,
                    e.write_timeout,
                    &mut moved,
                )
                .await;
                sp.bytes.increment(moved);
                n.taken += moved;
                n.delivered += moved;
                let end = r.map_err(|f| match f {
                    SpliceFail::Src(f) => dir.src(f),
                    SpliceFail::Dst(f) => dir.dst(f),
                })?;
                n.overrun |= end == RunEnd::Overrun;
                state.skip(moved).map_err(|_| dir.malformed())?;
                if state.over_limit(e.limit, n.taken) {
                    return Err(Error::new(ErrorKind::BodyTooLarge));
                }
                if end == RunEnd::Eof {
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
