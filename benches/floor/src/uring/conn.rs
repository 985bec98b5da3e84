//! One client connection and its upstream connection: what is queued, in
//! flight and armed on each socket. Bookkeeping only; `proxy.rs` drives the
//! ring from it.

use std::collections::VecDeque;

use super::http::{Bad, Framer, Pending};
use super::token::Peer;

/// Chunks a queue holds without growing. It may grow past that (each chunk
/// holds a distinct buffer, so never past the buffer count): the kernel may
/// post a burst of receives (dozens, from one socket with data queued)
/// before the cancel below takes effect. Grown queues stay grown, so steady
/// state allocates nothing.
const QUEUE_START: usize = 8;
/// At this many chunks queued for a socket, the receive feeding them is
/// cancelled (backpressure: a multishot receive cannot be told to wait)...
pub const HIGH: usize = 8;
/// ...and re-armed once the queue is down to this many.
pub const LOW: usize = 2;

/// Bytes `[off, off + len)` of provided buffer `bid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub bid: u16,
    pub off: u32,
    pub len: u32,
}

/// One socket of a connection.
pub struct Half {
    /// Received bytes waiting to be sent to this socket, oldest first; only
    /// the front one's send is ever in flight (sends stay in order).
    pub out: VecDeque<Chunk>,
    pub sending: bool,
    pub recv_armed: bool,
    /// Its receive is held back until the other socket's queue drains.
    pub paused: bool,
    /// Its file slot holds a socket.
    pub open: bool,
}

impl Half {
    fn new() -> Half {
        Half {
            out: VecDeque::with_capacity(QUEUE_START),
            sending: false,
            recv_armed: false,
            paused: false,
            open: false,
        }
    }

    pub fn push(&mut self, chunk: Chunk) {
        self.out.push_back(chunk);
    }

    /// Nothing left to send.
    pub fn idle(&self) -> bool {
        self.out.is_empty() && !self.sending
    }

    /// `n` bytes of the front chunk (from `bid`) went out: the chunk's buffer
    /// when it is all sent, `Err` if the completion does not match the queue.
    pub fn sent(&mut self, bid: u16, n: u32) -> Result<Option<u16>, Bad> {
        let front = self.out.front_mut().ok_or(Bad)?;
        if front.bid != bid || n == 0 || n > front.len {
            return Err(Bad);
        }
        front.off += n;
        front.len -= n;
        if front.len > 0 {
            return Ok(None);
        }
        self.out.pop_front();
        Ok(Some(bid))
    }

    /// Empties the queue, calling `give_back` for each buffer no send reads
    /// (an in-flight send's buffer returns with its completion).
    pub fn drain_unsent(&mut self, mut give_back: impl FnMut(u16)) {
        let skip = usize::from(self.sending);
        for chunk in self.out.drain(..).skip(skip) {
            give_back(chunk.bid);
        }
    }

    fn reset(&mut self) {
        self.out.clear();
        self.sending = false;
        self.recv_armed = false;
        self.paused = false;
        self.open = false;
    }
}

pub struct Conn {
    /// Bumped at each accept into this slot (see `token.rs`).
    pub gen: u16,
    pub live: bool,
    pub client: Half,
    pub up: Half,
    pub connecting: bool,
    pub connected: bool,
    /// The upstream closed between responses: close the client once the
    /// last response is out.
    pub close_after_flush: bool,
    req: Framer,
    res: Framer,
    pending: Pending,
}

impl Conn {
    pub fn new() -> Conn {
        Conn {
            gen: 0,
            live: false,
            client: Half::new(),
            up: Half::new(),
            connecting: false,
            connected: false,
            close_after_flush: false,
            req: Framer::default(),
            res: Framer::default(),
            pending: Pending::default(),
        }
    }

    /// A new client connection in this slot (buffers kept, state reset).
    pub fn open(&mut self) {
        self.gen = self.gen.wrapping_add(1);
        self.live = true;
        self.client.reset();
        self.up.reset();
        self.client.open = true;
        self.connecting = false;
        self.connected = false;
        self.close_after_flush = false;
        self.req.reset();
        self.res.reset();
        self.pending = Pending::default();
    }

    pub fn half(&mut self, peer: Peer) -> &mut Half {
        match peer {
            Peer::Client => &mut self.client,
            Peer::Upstream => &mut self.up,
        }
    }

    /// Follows the message boundaries of bytes received from `from`.
    pub fn frame(&mut self, from: Peer, data: &[u8]) -> Result<(), Bad> {
        match from {
            Peer::Client => self.req.feed_request(data, &mut self.pending),
            Peer::Upstream => self.res.feed_response(data, &mut self.pending),
        }
    }

    /// Every request forwarded has its whole response received.
    pub fn answered(&self) -> bool {
        self.res.idle() && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{Chunk, Half};

    #[test]
    fn short_sends_advance_the_front_chunk() {
        let mut h = Half::new();
        h.push(Chunk {
            bid: 3,
            off: 0,
            len: 10,
        });
        h.push(Chunk {
            bid: 4,
            off: 0,
            len: 5,
        });
        assert_eq!(h.sent(3, 4), Ok(None));
        assert_eq!(
            h.out[0],
            Chunk {
                bid: 3,
                off: 4,
                len: 6
            }
        );
        assert!(h.sent(4, 6).is_err(), "a completion for another buffer");
        assert_eq!(h.sent(3, 6), Ok(Some(3)));
        assert_eq!(h.out.len(), 1);
    }

    #[test]
    fn draining_keeps_the_buffer_a_send_still_reads() {
        let mut h = Half::new();
        for bid in 0..3 {
            h.push(Chunk {
                bid,
                off: 0,
                len: 1,
            });
        }
        h.sending = true;
        let mut back = Vec::new();
        h.drain_unsent(|b| back.push(b));
        assert_eq!(back, [1, 2]);
        assert!(h.out.is_empty());
    }
}
