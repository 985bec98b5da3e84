//! ChunkedDecoder must never panic, never claim bytes it was not given, and
//! reach the same verdict however the input is split across reads or held
//! before its trailer section; a filtered trailer section stays valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate_http::{filter_trailer_section, ChunkedDecoder, Dechunked, Feed};

/// Feeds `body` in pieces whose sizes cycle through `sizes`; returns the
/// total consumed and whether the message ended, or None on error.
fn feed_split(body: &[u8], sizes: &[u8]) -> Option<Feed> {
    let mut dec = ChunkedDecoder::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < body.len() {
        let step = usize::from(sizes.get(i % sizes.len().max(1)).copied().unwrap_or(1)).max(1);
        i += 1;
        let end = (pos + step).min(body.len());
        let piece = &body[pos..end];
        let feed = dec.feed(piece).ok()?;
        assert!(feed.consumed <= piece.len());
        assert!(feed.done || feed.consumed == piece.len());
        assert_eq!(feed.done, dec.is_done());
        pos += feed.consumed;
        if feed.done {
            return Some(Feed {
                consumed: pos,
                done: true,
            });
        }
    }
    Some(Feed {
        consumed: pos,
        done: false,
    })
}

/// As a verbatim-forwarding proxy reads: up to the trailers, then the
/// section whole (filtered, it must still end a message).
fn feed_held(body: &[u8]) -> Option<Feed> {
    let mut dec = ChunkedDecoder::new();
    let first = dec.feed_to_trailers(body).ok()?;
    if !dec.trailers_ahead() {
        return Some(first);
    }
    let rest = &body[first.consumed..];
    let second = dec.feed(rest).ok()?;
    if second.done {
        let mut filtered = b"0\r\n".to_vec();
        filter_trailer_section(&rest[..second.consumed], &mut filtered);
        let end = ChunkedDecoder::new().feed(&filtered);
        assert_eq!(
            end.ok(),
            Some(Feed {
                consumed: filtered.len(),
                done: true
            })
        );
    }
    Some(Feed {
        consumed: first.consumed + second.consumed,
        done: second.done,
    })
}

/// As a proxy de-chunking for an HTTP/1.0 client reads: in place, in
/// pieces of `step` bytes; the plain bytes must be the chunk data
/// `feed_with` reports, and what follows the message must stay put.
fn dechunk_matches(body: &[u8], step: usize) {
    let mut want = Vec::new();
    let verdict = ChunkedDecoder::new().feed_with(body, |r| want.extend_from_slice(&body[r]));
    let mut dec = ChunkedDecoder::new();
    let mut got = Vec::new();
    let mut pos = 0;
    let end = loop {
        let to = (pos + step).min(body.len());
        let mut piece = body[pos..to].to_vec();
        let Ok(Dechunked { consumed, plain, done }) = dec.dechunk_in_place(&mut piece) else {
            assert!(verdict.is_err(), "in place failed where feed_with did not");
            return;
        };
        assert!(plain <= consumed && consumed <= piece.len());
        assert_eq!(&piece[consumed..], &body[pos + consumed..to]);
        got.extend_from_slice(&piece[..plain]);
        pos += consumed;
        if done || to == body.len() {
            break Feed { consumed: pos, done };
        }
    };
    assert_eq!(verdict.ok(), Some(end));
    assert_eq!(got, want);
}

fuzz_target!(|body: &[u8]| {
    let mut whole = ChunkedDecoder::new();
    let verdict = whole.feed(body);
    if let Ok(feed) = verdict {
        assert!(feed.consumed <= body.len());
        assert!(feed.done || feed.consumed == body.len());
        assert!(whole.data_len() <= feed.consumed as u64);
        if feed.done {
            // a finished message ends with CRLF and takes nothing more
            assert!(body[..feed.consumed].ends_with(b"\r\n"));
            assert_eq!(
                whole.feed(b"x").ok(),
                Some(Feed {
                    consumed: 0,
                    done: true
                })
            );
        }
    }
    // Same verdict byte by byte, and with read sizes taken from the input
    // (1..=8 bytes) so split points move as the fuzzer mutates.
    assert_eq!(verdict.ok(), feed_split(body, &[1]));
    let sizes: Vec<u8> = body.iter().take(16).map(|b| b % 8 + 1).collect();
    assert_eq!(verdict.ok(), feed_split(body, &sizes));
    assert_eq!(verdict.ok(), feed_held(body));
    dechunk_matches(body, body.len().max(1));
    dechunk_matches(body, usize::from(body.first().copied().unwrap_or(0) % 8 + 1));
});
