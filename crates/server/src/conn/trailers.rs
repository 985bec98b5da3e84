//! Taking the trailer section of a verbatim chunked body whole, so that the
//! pump can filter it (`shardgate_http::filter_trailer_section`) before it
//! goes on: a field such as `Content-Length` or `Host` in trailers is
//! dropped, as the HTTP/3 paths drop it.
//!
//! The section is gathered in the sender's buffer: it must fit there
//! (`server.buffer_size`, and the decoder's 16 KiB cap), or the body is
//! malformed (400 from a client, 502 from an origin). Trailers are rare;
//! this only runs for a body whose last-chunk line has been read.

use std::time::Duration;

use shardgate_proxy::Error;

use super::body::{BodyState, Direction};
use super::io::{compact, read_at_most, Io};

/// Reads until `buf[*pos..]` starts with the whole trailer section and
/// returns its length. Bytes before `*pos` are consumed ones and may be
/// moved out (the buffer is compacted to make room).
pub async fn take<R: Io>(
    state: &BodyState,
    stream: &mut R,
    buf: &mut Vec<u8>,
    pos: &mut usize,
    read_timeout: Duration,
    dir: Direction,
) -> Result<usize, Error> {
    loop {
        let rest = buf.get(*pos..).unwrap_or_default();
        if let Some(len) = state
            .trailer_section_len(rest)
            .map_err(|_| dir.malformed())?
        {
            return Ok(len);
        }
        compact(buf, pos);
        if buf.len() == buf.capacity() {
            // Valid so far, but larger than the buffer can hold.
            return Err(dir.malformed());
        }
        match read_at_most(stream, buf, usize::MAX, read_timeout).await {
            Ok(0) => return Err(dir.src_eof()),
            Ok(_) => {}
            Err(f) => return Err(dir.src(f)),
        }
    }
}
