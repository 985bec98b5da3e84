//! What a parse is given and gives back: size limits, caller-owned header
//! storage, the outcome and the body framing. Its own module so the parsers
//! (request, response, scan) depend on it rather than on the crate root,
//! which depends on them for its re-exports.

use std::mem::MaybeUninit;

/// Hard upper bound on header fields per head; `Limits::max_headers` may only lower it.
pub const MAX_HEADERS: usize = 256;

/// Per-listener size limits, checked before a head is complete so a peer
/// cannot make us buffer without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (status line for responses), CRLF excluded → 414.
    pub max_request_line: usize,
    /// Largest head, leading empty lines and the final CRLFCRLF included → 431.
    pub max_head_bytes: usize,
    /// Most header fields → 431 (capped at [`MAX_HEADERS`]).
    pub max_headers: usize,
}

impl Default for Limits {
    /// Roughly nginx's defaults (8 KiB lines, 32 KiB heads), so tests and
    /// callers without a config get sane bounds.
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

/// Caller-owned storage for httparse headers so parsing allocates nothing.
///
/// It carries the buffer lifetime `'b` because the parsed `Header<'b>`s are
/// written into it and then lent out; safe Rust cannot re-type one long-lived
/// array for each new borrow of a reused read buffer. The slots are
/// `MaybeUninit`, so `new()` writes nothing and costs nothing: create one per
/// parse, next to the buffer borrow (it is 8 KiB, so keep it on the stack
/// rather than in a long-lived connection struct).
///
/// ```
/// use shardgate_http::{parse_request, HeaderStore, Limits, Parsed};
///
/// let limits = Limits::default();
/// let mut buf: Vec<u8> = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT".to_vec();
/// let mut targets = 0;
/// loop {
///     let mut store = HeaderStore::new(); // free: the slots stay uninitialised
///     let used = match parse_request(&buf, &limits, &mut store) {
///         Ok(Parsed::Complete(head)) => {
///             targets += 1;
///             head.head_len
///         }
///         Ok(Parsed::Partial) => break, // read more into `buf`, then parse again
///         Err(e) => panic!("answer {} and close", e.status()),
///     };
///     buf.drain(..used); // the borrow of `buf` ended with `store`'s last use
/// }
/// assert_eq!(targets, 1);
/// assert_eq!(buf, b"GET /b HT");
/// ```
pub struct HeaderStore<'b> {
    slots: [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS],
}

impl<'b> HeaderStore<'b> {
    pub fn new() -> Self {
        HeaderStore {
            slots: [const { MaybeUninit::uninit() }; MAX_HEADERS],
        }
    }

    /// The first `n` slots (at most all of them), for httparse to fill.
    pub(crate) fn slots(&mut self, n: usize) -> &mut [MaybeUninit<httparse::Header<'b>>] {
        let n = n.min(MAX_HEADERS);
        self.slots.get_mut(..n).unwrap_or_default()
    }
}

impl Default for HeaderStore<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// Outcome of a parse that may need more bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    Complete(T),
    /// The head is not complete yet (and within limits): read more and call again.
    Partial,
}

/// How the message body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body follows the head.
    None,
    /// Exactly this many bytes follow (`Length(0)` keeps an explicit `Content-Length: 0`).
    Length(u64),
    /// Chunked coding: track it with [`ChunkedDecoder`].
    Chunked,
    /// Responses only: the body runs until the server closes the connection.
    CloseDelimited,
}
