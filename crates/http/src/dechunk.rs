//! De-chunking in place: a chunked body turned into its plain bytes inside
//! the buffer it was read into. A proxy answering an HTTP/1.0 client (which
//! cannot read chunked) from a chunked origin needs this on every read;
//! done in place it needs no second buffer, so the path allocates nothing
//! per request (the framing only ever shrinks the data, so the plain bytes
//! always fit where the framed ones were).

use crate::chunked::{ChunkedDecoder, Feed};
use crate::error::Error;

/// What one [`ChunkedDecoder::dechunk_in_place`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dechunked {
    /// Bytes of the input that belong to this message (as [`Feed`]).
    pub consumed: usize,
    /// The chunk data among them, now at the start of the buffer.
    pub plain: usize,
    /// The message ended (trailers dropped with the rest of the framing).
    pub done: bool,
}

impl ChunkedDecoder {
    /// Advances over `buf` (the next bytes of the body on the wire) and
    /// moves the chunk data among them to `buf[..plain]`. Bytes after
    /// `consumed` (the next message) are left where they are. On an error
    /// the buffer's body bytes are unspecified and the decoder stays failed.
    pub fn dechunk_in_place(&mut self, buf: &mut [u8]) -> Result<Dechunked, Error> {
        let mut read = 0;
        let mut plain = 0;
        loop {
            let run = self.data_remaining();
            if run > 0 {
                let left = buf.len() - read;
                // min() with a usize keeps the cast lossless.
                let take = run.min(left as u64) as usize;
                buf.copy_within(read..read + take, plain);
                self.skip_data(take as u64)?;
                read += take;
                plain += take;
            }
            let rest = buf.get(read..).unwrap_or_default();
            let Feed { consumed, done } = self.feed_to_data(rest)?;
            read += consumed;
            if done || read == buf.len() {
                return Ok(Dechunked {
                    consumed: read,
                    plain,
                    done,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain bytes `feed_with` reports for `wire` in one call.
    fn reference(wire: &[u8]) -> (Vec<u8>, Feed) {
        let mut out = Vec::new();
        let feed = ChunkedDecoder::new()
            .feed_with(wire, |r| out.extend_from_slice(&wire[r]))
            .unwrap();
        (out, feed)
    }

    const BODIES: &[&[u8]] = &[
        b"0\r\n\r\n",
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
        b"5;a=\"q;\\\"\"\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\nNEXT",
        b"10\r\n0123456789abcdef\r\n0\r\n\r\n",
    ];

    #[test]
    fn whole_input_matches_feed_with() {
        for wire in BODIES {
            let (want, feed) = reference(wire);
            let mut buf = wire.to_vec();
            let got = ChunkedDecoder::new().dechunk_in_place(&mut buf).unwrap();
            assert_eq!((got.consumed, got.done), (feed.consumed, feed.done));
            assert_eq!(&buf[..got.plain], &want[..]);
            assert_eq!(
                &buf[got.consumed..],
                &wire[feed.consumed..],
                "next message kept"
            );
        }
    }

    #[test]
    fn every_split_gives_the_same_bytes() {
        for wire in BODIES {
            let (want, feed) = reference(wire);
            for cut in 0..=feed.consumed {
                let mut dec = ChunkedDecoder::new();
                let mut out = Vec::new();
                let mut first = wire[..cut].to_vec();
                let a = dec.dechunk_in_place(&mut first).unwrap();
                assert_eq!(a.consumed, cut, "all of a partial body is taken");
                out.extend_from_slice(&first[..a.plain]);
                let mut second = wire[cut..].to_vec();
                let b = dec.dechunk_in_place(&mut second).unwrap();
                out.extend_from_slice(&second[..b.plain]);
                assert!(a.done || b.done, "cut {cut}");
                assert_eq!(out, want, "cut {cut}");
            }
        }
    }

    #[test]
    fn malformed_framing_fails_and_stays_failed() {
        let mut dec = ChunkedDecoder::new();
        let mut buf = b"3\r\nabcX\r\n".to_vec();
        assert!(dec.dechunk_in_place(&mut buf).is_err());
        assert!(dec.dechunk_in_place(&mut b"0\r\n\r\n".to_vec()).is_err());
    }
}
