//! The access log's bounds and what shards send to the writer thread.

/// Capacity of one buffer: large enough that a busy shard hands over a few
/// buffers per tick, small enough that 4 per shard cost little.
pub const BUFFER_SIZE: usize = 64 * 1024;
/// Buffers one shard may own (current + free + queued + being written).
pub const BUFFERS_PER_SHARD: usize = 4;
/// Longest line, newline included. A line gets a buffer with at least this much
/// room, so writing it never reallocates; a longer line is dropped and counted.
pub const MAX_LINE: usize = 8 * 1024;

/// What shards send to the writer thread.
pub(super) enum Msg {
    /// A buffer of whole lines and the channel to send it back on once written.
    Full(Vec<u8>, std::sync::mpsc::SyncSender<Vec<u8>>),
    /// Write what was queued before this, then end the thread.
    Close,
}
