//! A request body kept as it was sent upstream, so that a retry can send it
//! again. Bodies stream to the origin as they arrive; this only keeps a copy,
//! and only up to `[route.retry] buffer_body` (at most 64 KiB, one of the
//! shard's streaming buffers, so steady traffic allocates nothing). A body
//! that outgrows it is no longer kept, and once any of it went upstream the
//! request cannot be sent again.

/// Where the copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The request has no body: it can always be sent again.
    NoBody,
    /// Every body byte taken from the client so far is in the buffer.
    Kept { limit: usize },
    /// Not kept (none wanted, too large, or outgrown).
    Dropped,
}

pub struct Replay {
    buf: Vec<u8>,
    state: State,
}

/// How long a body is, as far as its head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    None,
    Known(u64),
    /// Chunked, or an HTTP/3 body without a length.
    Unknown,
}

impl Replay {
    /// `limit`: the most bytes to keep (0: none); `take` lends a buffer of at
    /// least that capacity, called only when the body may fit.
    pub fn new(len: BodyLen, limit: usize, take: impl FnOnce() -> Vec<u8>) -> Self {
        let fits = match len {
            BodyLen::None | BodyLen::Known(0) => {
                return Replay {
                    buf: Vec::new(),
                    state: State::NoBody,
                }
            }
            BodyLen::Known(n) => n <= limit as u64,
            BodyLen::Unknown => true,
        };
        if limit == 0 || !fits {
            return Self::dropped();
        }
        let buf = take();
        // The copy never grows the lent buffer.
        let limit = limit.min(buf.capacity());
        Replay {
            buf,
            state: State::Kept { limit },
        }
    }

    fn dropped() -> Self {
        Replay {
            buf: Vec::new(),
            state: State::Dropped,
        }
    }

    /// Body bytes that went (or are going) upstream.
    pub fn keep(&mut self, bytes: &[u8]) {
        if let State::Kept { limit } = self.state {
            if self.buf.len() + bytes.len() <= limit {
                self.buf.extend_from_slice(bytes);
            } else {
                self.buf.clear();
                self.state = State::Dropped;
            }
        }
    }

    /// It is still copying the body: every byte must pass through
    /// [`Replay::keep`] (so none may be spliced past it).
    pub fn keeping(&self) -> bool {
        matches!(self.state, State::Kept { .. })
    }

    /// Everything taken from the client so far can be sent again.
    pub fn intact(&self) -> bool {
        self.state != State::Dropped
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The kept bytes, lent to a write (which takes the buffer by value);
    /// call [`Replay::returned`] after it.
    pub fn lend(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// A write cancelled by its deadline keeps the buffer it was lent: the
    /// copy is then gone.
    pub fn returned(&mut self) {
        if matches!(self.state, State::Kept { .. }) && self.buf.capacity() == 0 {
            self.state = State::Dropped;
        }
    }

    /// The lent buffer, to go back to its pool.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lend() -> Vec<u8> {
        Vec::with_capacity(64)
    }

    #[test]
    fn no_body_needs_no_buffer_and_is_always_intact() {
        for len in [BodyLen::None, BodyLen::Known(0)] {
            let r = Replay::new(len, 64, || panic!("no buffer for {len:?}"));
            assert!(r.intact() && r.is_empty());
        }
    }

    #[test]
    fn bodies_over_the_limit_are_not_kept() {
        let r = Replay::new(BodyLen::Known(65), 64, || panic!("known too large"));
        assert!(!r.intact());
        let r = Replay::new(BodyLen::Known(10), 0, || panic!("limit 0"));
        assert!(!r.intact());
        let mut r = Replay::new(BodyLen::Unknown, 64, lend);
        r.keep(&[1; 40]);
        assert!(r.intact());
        r.keep(&[2; 24]);
        assert!(r.intact(), "exactly the limit");
        r.keep(&[3]);
        assert!(!r.intact() && r.is_empty());
        r.keep(&[4; 2]);
        assert!(!r.intact(), "outgrown stays outgrown");
    }

    #[test]
    fn the_copy_is_the_bytes_in_order_and_never_grows_the_buffer() {
        let mut r = Replay::new(BodyLen::Unknown, 1 << 20, lend);
        r.keep(b"abc");
        r.keep(b"def");
        assert_eq!(r.lend().as_slice(), b"abcdef");
        r.returned();
        assert!(r.intact());
        r.keep(&[0; 59]);
        assert!(!r.intact(), "limited to the buffer's 64 bytes");
        assert_eq!(r.into_buffer().capacity(), 64);
    }

    #[test]
    fn a_buffer_lost_to_a_cancelled_write_drops_the_copy() {
        let mut r = Replay::new(BodyLen::Known(3), 64, lend);
        r.keep(b"abc");
        let _gone = std::mem::take(r.lend());
        r.returned();
        assert!(!r.intact());
    }
}
