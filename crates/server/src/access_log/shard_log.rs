//! [`ShardLog`]: one shard's buffers. Owned by the shard, never shared, never
//! blocking.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use metrics::{counter, Counter};

use super::bounds::{Msg, BUFFERS_PER_SHARD, BUFFER_SIZE, MAX_LINE};

pub struct ShardLog {
    /// Lines not yet handed over. Capacity `BUFFER_SIZE`, or 0 while every
    /// buffer of the shard is with the writer.
    current: Vec<u8>,
    /// Lines in `current`, to count them if the buffer is lost.
    lines: u64,
    to_writer: SyncSender<Msg>,
    /// Cloned into every handed-over buffer: the writer sends it back here.
    back: SyncSender<Vec<u8>>,
    /// The free list: buffers the writer has written and returned.
    free: Receiver<Vec<u8>>,
    dropped: Counter,
    dropped_total: u64,
}

impl ShardLog {
    pub(super) fn new(shard: usize, to_writer: SyncSender<Msg>) -> Self {
        // Never more than BUFFERS_PER_SHARD buffers exist, so a return never
        // finds this full.
        let (back, free) = sync_channel(BUFFERS_PER_SHARD);
        // Every buffer is made now, when the shard first logs: made lazily,
        // the third or fourth one would be allocated on some later request
        // under a burst, breaking "no allocation per steady-state request".
        for _ in 1..BUFFERS_PER_SHARD {
            let _ = back.try_send(Vec::with_capacity(BUFFER_SIZE));
        }
        Self {
            current: Vec::with_capacity(BUFFER_SIZE),
            lines: 0,
            to_writer,
            back,
            free,
            dropped: counter!("shardgate_access_log_dropped_total", "shard" => shard.to_string()),
            dropped_total: 0,
        }
    }

    /// Appends one line: `f` writes it (without the newline, which is added
    /// here) at the end of the buffer it is given. `f` gets at least `MAX_LINE`
    /// bytes of spare capacity and must stay within `MAX_LINE - 1`; a longer
    /// line is removed again and counted as dropped (if it outgrew the spare
    /// capacity, the buffer was reallocated once — keep lines bounded, see
    /// `escape`). When there is no room and no free buffer, the line is dropped
    /// and counted without calling `f`.
    pub fn line(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        if !self.make_room() {
            self.drop_lines(1);
            return;
        }
        let start = self.current.len();
        f(&mut self.current);
        if self.current.len().saturating_sub(start) >= MAX_LINE {
            self.current.truncate(start);
            self.drop_lines(1);
            return;
        }
        self.current.push(b'\n');
        self.lines += 1;
    }

    /// Hands a non-empty buffer to the writer (every tick and at shutdown), so
    /// a quiet shard's lines do not wait for the buffer to fill.
    pub fn flush(&mut self) {
        if !self.current.is_empty() {
            self.hand_over();
        }
    }

    /// Lines this shard dropped so far; the same count as
    /// `shardgate_access_log_dropped_total{shard}`.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }

    /// Whether the current buffer has `MAX_LINE` bytes to spare, after handing
    /// it over and taking a fresh one if needed.
    fn make_room(&mut self) -> bool {
        if self.room() >= MAX_LINE {
            return true;
        }
        if !self.current.is_empty() {
            self.hand_over();
        }
        if self.current.capacity() == 0 {
            self.current = self.fresh();
        }
        self.room() >= MAX_LINE
    }

    fn room(&self) -> usize {
        self.current.capacity() - self.current.len()
    }

    /// `current` goes to the writer and a fresh buffer (or none) takes its
    /// place; when the writer's queue is full the buffer stays (and new lines
    /// are dropped until it can go), when the writer is gone its lines are lost.
    fn hand_over(&mut self) {
        let buf = std::mem::take(&mut self.current);
        let lines = std::mem::take(&mut self.lines);
        match self.to_writer.try_send(Msg::Full(buf, self.back.clone())) {
            Ok(()) => self.current = self.fresh(),
            Err(TrySendError::Full(msg)) => {
                self.current = into_buffer(msg);
                self.lines = lines;
            }
            Err(TrySendError::Disconnected(msg)) => {
                self.current = into_buffer(msg);
                self.current.clear();
                self.drop_lines(lines);
            }
        }
    }

    /// A returned buffer, else none (capacity 0, no allocation).
    fn fresh(&mut self) -> Vec<u8> {
        self.free.try_recv().unwrap_or_default()
    }

    fn drop_lines(&mut self, n: u64) {
        if n > 0 {
            self.dropped_total += n;
            self.dropped.increment(n);
        }
    }
}

fn into_buffer(msg: Msg) -> Vec<u8> {
    match msg {
        Msg::Full(buf, _) => buf,
        Msg::Close => Vec::new(),
    }
}

impl Drop for ShardLog {
    /// A shard that ends without a last `flush` still gets its lines out.
    fn drop(&mut self) {
        self.flush();
    }
}
