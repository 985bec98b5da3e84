//! The access log: one line per request, written without the shard ever
//! waiting for the output.
//!
//! A shard formats each line straight into its [`ShardLog`]'s current buffer
//! (with the allocation-free helpers of [`escape`], [`num`] and [`time`]). A full
//! buffer — and every 25 ms tick a partly filled one — is handed to the
//! process-wide [`Sink`]'s writer thread, which writes it with one `write_all`
//! and sends it back, cleared, through the shard's own return channel. In the
//! steady state the same buffers circulate and nothing is allocated.
//!
//! Bounds (memory never grows with load):
//! - per shard at most [`BUFFERS_PER_SHARD`] buffers of [`BUFFER_SIZE`] bytes
//!   (4 × 64 KiB), all allocated when the shard first logs; the return channel
//!   holds at most that many;
//! - the writer's queue holds `shards × BUFFERS_PER_SHARD` buffers, every buffer
//!   of every shard, so a shard never finds it full;
//! - a line is at most [`MAX_LINE`] bytes, newline included.
//!
//! When the output falls behind and all of a shard's buffers are queued or
//! being written, that shard's further lines are dropped and counted in
//! `shardgate_access_log_dropped_total{shard}`: the request never waits.

mod bounds;
pub mod escape;
pub mod num;
mod output;
mod shard_log;
mod sink;
pub mod time;

pub use bounds::{BUFFERS_PER_SHARD, BUFFER_SIZE, MAX_LINE};
pub use shard_log::ShardLog;
pub use sink::Sink;
