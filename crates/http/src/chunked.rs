//! Chunked framing (RFC 9112 §7.1) for bodies forwarded verbatim: the proxy
//! only needs to know where the message ends and that the framing is one
//! every recipient reads the same way, so this validates without copying.
//!
//! Strictness is the defence: lenient chunk parsers (bare LF, whitespace or
//! `0x` in sizes, junk after data, chunk extensions read by their alphabet
//! instead of their grammar) are what chunk-based smuggling exploits.

use crate::error::Error;
use crate::fields::is_tchar;

/// Longest chunk-size line (size + extensions), CRLF excluded. Extensions
/// carry nothing we use; the bound stops a peer streaming one forever.
const MAX_SIZE_LINE: usize = 4 * 1024;
/// Most trailer-section bytes (field lines and their CRLFs).
const MAX_TRAILERS: usize = 16 * 1024;
/// 16 hex digits already fill a u64.
const MAX_SIZE_DIGITS: usize = 16;

/// Result of one [`ChunkedDecoder::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feed {
    /// Bytes of the input that belong to this message: all of it unless
    /// `done`, in which case what follows is the next message.
    pub consumed: usize,
    /// The last-chunk, trailers and final CRLF have all been seen.
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Start of a chunk-size line: a hex digit must come.
    SizeStart,
    /// In the hex digits.
    Size,
    /// Whitespace after the size: only BWS before `;` is allowed.
    SizeBws,
    /// After a `;`: BWS, then an extension name.
    ExtSemi,
    /// In an extension name (a token).
    ExtName,
    /// BWS after a name: `=` or the next `;` must come.
    ExtNameBws,
    /// After `=`: BWS, then a token or a quoted string.
    ExtEq,
    /// In a token value.
    ExtToken,
    /// In a quoted-string value.
    ExtQuoted,
    /// After a backslash in a quoted string.
    ExtQuotedPair,
    /// After a value: BWS, `;` or the line's CR.
    ExtValueEnd,
    /// BWS after a value: only the next `;` may follow.
    ExtValueBws,
    /// After the CR of the size line.
    SizeLf,
    /// In chunk data; `remaining` > 0.
    Data,
    DataCr,
    DataLf,
    /// Start of a trailer field line, or the CR of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    FinalLf,
    Done,
    Failed(&'static str),
}

/// Where [`ChunkedDecoder::run`] stops before the input's end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Never,
    /// Where a trailer section begins.
    Trailers,
    /// Where chunk data begins.
    Data,
}

/// Tracks one chunked body across reads.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Size being read, then data bytes left in the current chunk.
    remaining: u64,
    size_digits: usize,
    line_len: usize,
    trailer_len: usize,
    data_len: u64,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            remaining: 0,
            size_digits: 0,
            line_len: 0,
            trailer_len: 0,
            data_len: 0,
        }
    }

    /// Advances over `data` (the next bytes of the body on the wire). After
    /// an error the decoder stays failed: the connection cannot be trusted.
    pub fn feed(&mut self, data: &[u8]) -> Result<Feed, Error> {
        self.feed_with(data, |_| {})
    }

    /// Like [`feed`](Self::feed), and also reports where chunk data lies in
    /// `data`: what a proxy needs to turn a chunked body into a plain one (for an
    /// HTTP/1.0 client, which cannot read chunked).
    pub fn feed_with(
        &mut self,
        data: &[u8],
        on_data: impl FnMut(std::ops::Range<usize>),
    ) -> Result<Feed, Error> {
        self.feed_parts(data, on_data, |_| {})
    }

    /// Like [`feed_with`](Self::feed_with), and also reports where the
    /// trailer section lies in `data` (its field lines and the final CRLF,
    /// validated): what an HTTP/3 front end needs to send the trailers as a
    /// HEADERS frame. At most 16 KiB in all, across calls.
    pub fn feed_parts(
        &mut self,
        data: &[u8],
        on_data: impl FnMut(std::ops::Range<usize>),
        on_trailer: impl FnMut(std::ops::Range<usize>),
    ) -> Result<Feed, Error> {
        self.run(data, on_data, on_trailer, Stop::Never)
    }

    /// Like [`feed`](Self::feed), but stops where a trailer section begins
    /// (right after the last-chunk line; see
    /// [`trailers_ahead`](Self::trailers_ahead)), so that a proxy forwarding
    /// the body verbatim can take the section whole and filter it. A later
    /// call goes on into the section.
    pub fn feed_to_trailers(&mut self, data: &[u8]) -> Result<Feed, Error> {
        self.run(data, |_| {}, |_| {}, Stop::Trailers)
    }

    /// Like [`feed`](Self::feed), but reads framing only: it stops where
    /// chunk data begins (see [`data_remaining`](Self::data_remaining)),
    /// which the caller moves itself and accounts for with
    /// [`skip_data`](Self::skip_data).
    pub(crate) fn feed_to_data(&mut self, data: &[u8]) -> Result<Feed, Error> {
        self.run(data, |_| {}, |_| {}, Stop::Data)
    }

    /// The last-chunk line has been read and nothing of the trailer section
    /// (not even the final CRLF) yet.
    pub fn trailers_ahead(&self) -> bool {
        self.state == State::TrailerStart && self.trailer_len == 0
    }

    fn run(
        &mut self,
        data: &[u8],
        mut on_data: impl FnMut(std::ops::Range<usize>),
        mut on_trailer: impl FnMut(std::ops::Range<usize>),
        stop: Stop,
    ) -> Result<Feed, Error> {
        let mut pos = 0;
        // Start of the trailer bytes seen in this call, reported as one range.
        let mut trailer_from: Option<usize> = None;
        let result = loop {
            match self.state {
                State::Done => {
                    break Ok(Feed {
                        consumed: pos,
                        done: true,
                    })
                }
                State::Failed(why) => break Err(Error::Chunked(why)),
                State::Data => {
                    let available = data.len() - pos;
                    if available == 0 || stop == Stop::Data {
                        break Ok(Feed {
                            consumed: pos,
                            done: false,
                        });
                    }
                    // min() with a usize keeps the cast lossless.
                    let take = self.remaining.min(available as u64) as usize;
                    on_data(pos..pos + take);
                    pos += take;
                    self.remaining -= take as u64;
                    self.data_len += take as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    let Some(&byte) = data.get(pos) else {
                        break Ok(Feed {
                            consumed: pos,
                            done: false,
                        });
                    };
                    if trailer_from.is_none() && self.in_trailers() {
                        trailer_from = Some(pos);
                    }
                    pos += 1;
                    self.state = match self.step(byte) {
                        Ok(next) => next,
                        Err(why) => State::Failed(why),
                    };
                    if stop == Stop::Trailers && self.trailers_ahead() {
                        break Ok(Feed {
                            consumed: pos,
                            done: false,
                        });
                    }
                }
            }
        };
        if let (Ok(_), Some(from)) = (&result, trailer_from) {
            on_trailer(from..pos);
        }
        result
    }

    fn in_trailers(&self) -> bool {
        matches!(
            self.state,
            State::TrailerStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLf
                | State::FinalLf
        )
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Chunk-data bytes seen so far (extensions, sizes and trailers not
    /// counted): what a body-size limit applies to.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Bytes of the current chunk's data still to come: a run the proxy may
    /// move without looking at it (0 when the next byte is framing).
    pub fn data_remaining(&self) -> u64 {
        if self.state == State::Data {
            self.remaining
        } else {
            0
        }
    }

    /// Accounts for `n` bytes of chunk data that moved without passing
    /// through [`feed`](Self::feed) (spliced between sockets); at most
    /// [`data_remaining`](Self::data_remaining), more is an error.
    pub fn skip_data(&mut self, n: u64) -> Result<(), Error> {
        if n > self.data_remaining() {
            return Err(Error::Chunked("skipped past the chunk's data"));
        }
        self.remaining -= n;
        self.data_len += n;
        if self.state == State::Data && self.remaining == 0 {
            self.state = State::DataCr;
        }
        Ok(())
    }

    /// One byte of framing (everything except chunk data).
    fn step(&mut self, b: u8) -> Result<State, &'static str> {
        use State::*;
        match self.state {
            SizeStart | Size | SizeBws | ExtSemi | ExtName | ExtNameBws | ExtEq | ExtToken
            | ExtQuoted | ExtQuotedPair | ExtValueEnd | ExtValueBws => {
                self.line_len += 1;
                if self.line_len > MAX_SIZE_LINE && b != b'\r' {
                    return Err("chunk-size line too long");
                }
            }
            TrailerStart | TrailerName | TrailerValue | TrailerLf | FinalLf => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILERS {
                    return Err("trailer section too large");
                }
            }
            _ => {}
        }
        let next = match (self.state, b) {
            (SizeStart | Size, _) if b.is_ascii_hexdigit() => {
                self.size_digits += 1;
                if self.size_digits > MAX_SIZE_DIGITS {
                    return Err("chunk size too large");
                }
                let digit = (b as char).to_digit(16).unwrap_or_default();
                self.remaining = (self.remaining << 4) | u64::from(digit);
                Size
            }
            (SizeStart, _) => return Err("missing chunk size"),
            (Size | SizeBws, b' ' | b'\t') => SizeBws,
            (Size | SizeBws, b';') => ExtSemi,
            (Size, b'\r') => SizeLf,
            (Size | SizeBws, _) => return Err("invalid chunk size"),
            // RFC 9112 §7.1.1, exactly: chunk-ext = *( BWS ";" BWS name
            // [ BWS "=" BWS ( token / quoted-string ) ] ). Extensions mean
            // nothing to the gateway, but they are forwarded verbatim, and a
            // recipient that reads a quoted string (or stray bytes) in one
            // differently finds another end of the size line: a smuggling
            // vector ("funky chunks"). Anything off the grammar is refused.
            (ExtSemi | ExtEq, b' ' | b'\t') => self.state,
            (ExtSemi | ExtName, _) if is_tchar(b) => ExtName,
            (ExtName | ExtNameBws, b' ' | b'\t') => ExtNameBws,
            (ExtName | ExtNameBws, b'=') => ExtEq,
            (ExtName | ExtNameBws | ExtToken | ExtValueEnd | ExtValueBws, b';') => ExtSemi,
            (ExtName | ExtToken | ExtValueEnd, b'\r') => SizeLf,
            (ExtEq | ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtEq, b'"') => ExtQuoted,
            (ExtToken | ExtValueEnd | ExtValueBws, b' ' | b'\t') => ExtValueBws,
            (ExtQuoted, b'"') => ExtValueEnd,
            (ExtQuoted, b'\\') => ExtQuotedPair,
            // qdtext: HTAB, SP, VCHAR but DQUOTE and backslash, obs-text.
            (ExtQuoted | ExtQuotedPair, _) if b == b'\t' || (b >= b' ' && b != 0x7f) => ExtQuoted,
            (
                ExtSemi | ExtName | ExtNameBws | ExtEq | ExtToken | ExtQuoted | ExtQuotedPair
                | ExtValueEnd | ExtValueBws,
                _,
            ) => return Err("invalid chunk extension"),
            (SizeLf, b'\n') => {
                self.line_len = 0;
                self.size_digits = 0;
                if self.remaining == 0 {
                    TrailerStart
                } else {
                    Data
                }
            }
            (SizeLf, _) => return Err("chunk-size line not ended by CRLF"),
            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err("chunk data not followed by CRLF"),
            (DataLf, b'\n') => SizeStart,
            (DataLf, _) => return Err("chunk data not followed by CRLF"),
            (TrailerStart, b'\r') => FinalLf,
            (TrailerStart, b' ' | b'\t') => return Err("obsolete line folding in trailers"),
            (TrailerStart | TrailerName, _) if is_tchar(b) => TrailerName,
            (TrailerStart, _) => return Err("invalid trailer field"),
            (TrailerName, b':') => TrailerValue,
            (TrailerName, _) => return Err("invalid trailer field name"),
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, _) if b == b'\t' || (b >= b' ' && b != 0x7f) => TrailerValue,
            (TrailerValue, _) => return Err("invalid trailer field value"),
            (TrailerLf, b'\n') => TrailerStart,
            (TrailerLf, _) => return Err("trailer line not ended by CRLF"),
            (FinalLf, b'\n') => Done,
            (FinalLf, _) => return Err("chunked body not ended by CRLF"),
            (Data | Done | Failed(_), _) => return Err("internal state error"),
        };
        Ok(next)
    }
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod feed_with_tests {
    use super::*;

    #[test]
    fn reports_data_ranges_across_splits() {
        let wire = b"3;x=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nNEXT";
        for split in 0..wire.len() {
            let mut dec = ChunkedDecoder::new();
            let mut payload = Vec::new();
            let (a, b) = wire.split_at(split);
            let f1 = dec
                .feed_with(a, |r| payload.extend_from_slice(&a[r]))
                .unwrap();
            assert_eq!(f1.consumed, a.len().min(wire.len() - 4));
            if !f1.done {
                let f2 = dec
                    .feed_with(b, |r| payload.extend_from_slice(&b[r]))
                    .unwrap();
                assert!(f2.done);
                assert_eq!(&b[f2.consumed..], b"NEXT");
            }
            assert_eq!(payload, b"abc0123456789abcdef", "split at {split}");
        }
    }

    #[test]
    fn trailer_section_is_reported_across_reads() {
        let body = b"3\r\nabc\r\n0\r\nx-sum: 12\r\nx-b: 2\r\n\r\n";
        for split in 0..body.len() {
            let mut d = ChunkedDecoder::new();
            let mut trailers = Vec::new();
            let mut data = Vec::new();
            let (a, b) = body.split_at(split);
            let mut done = false;
            for part in [a, b] {
                let f = d
                    .feed_parts(
                        part,
                        |r| data.extend_from_slice(&part[r]),
                        |r| trailers.extend_from_slice(&part[r]),
                    )
                    .unwrap();
                done |= f.done;
            }
            assert!(done, "split {split}");
            assert_eq!(data, b"abc", "split {split}");
            assert_eq!(trailers, b"x-sum: 12\r\nx-b: 2\r\n\r\n", "split {split}");
        }
        let mut d = ChunkedDecoder::new();
        let mut t = Vec::new();
        d.feed_parts(b"0\r\n\r\n", |_| {}, |r| t.push(r)).unwrap();
        assert_eq!(t, vec![3..5], "no fields: only the final CRLF");
    }

    #[test]
    fn feeding_to_the_trailers_stops_before_them() {
        let body = b"3\r\nabc\r\n0\r\nx-sum: 12\r\n\r\nNEXT";
        for split in 0..body.len() {
            let mut d = ChunkedDecoder::new();
            let (a, b) = body.split_at(split);
            let mut taken = d.feed_to_trailers(a).unwrap().consumed;
            if !d.trailers_ahead() {
                assert_eq!(taken, a.len(), "split {split}");
                taken += d.feed_to_trailers(b).unwrap().consumed;
            }
            assert!(d.trailers_ahead(), "split {split}");
            assert_eq!(taken, 11, "split {split}: up to the last-chunk line");
            let f = d.feed_to_trailers(&body[taken..]).unwrap();
            assert!(f.done && !d.trailers_ahead(), "split {split}");
            assert_eq!(&body[taken + f.consumed..], b"NEXT");
        }
    }

    #[test]
    fn skipped_data_counts_and_the_framing_after_it_is_checked() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.data_remaining(), 0, "a size line comes first");
        assert!(d.skip_data(1).is_err());
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.feed(b"10\r\n0123").unwrap().consumed, 8);
        assert_eq!(d.data_remaining(), 12);
        d.skip_data(5).unwrap();
        assert_eq!(d.data_remaining(), 7);
        assert!(d.skip_data(8).is_err(), "past the chunk's end");
        d.skip_data(7).unwrap();
        assert_eq!(d.data_remaining(), 0);
        assert_eq!(d.data_len(), 16);
        // The CRLF after the data is still required.
        assert!(d.clone().feed(b"X").is_err());
        let f = d.feed(b"\r\n0\r\n\r\nNEXT").unwrap();
        assert!(f.done);
        assert_eq!(f.consumed, 7);
        let mut d = ChunkedDecoder::new();
        d.feed(b"1\r\n").unwrap();
        d.skip_data(0).unwrap();
        assert_eq!(d.data_remaining(), 1, "skipping nothing changes nothing");
    }
}
