//! Moving a run of body bytes from one plain socket to another through a
//! pipe (`splice(2)`): the bytes never enter user space, which saves the two
//! copies a buffer costs (kernel → buffer → kernel; a third of a shard's CPU
//! on 256 KiB responses). ADR 22 has the measurements and why io_uring's own
//! splice op is not used.
//!
//! The calls are non-blocking and made from the shard's thread; when one
//! says `EAGAIN` the run waits for readiness through the runtime (a poll
//! on io_uring, the epoll registration on the legacy driver), under the same
//! limits a buffered transfer has: the read timeout between bytes from the
//! sender, the send timeout for a receiver that takes nothing.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use monoio::net::TcpStream;
use shardgate_net::{set_nonblocking, Pipe};

use super::io::IoFail;

/// Shortest run worth a splice: below it the bytes are read with whatever
/// framing follows them (a buffered read and write cost about what two
/// splice calls do, and copying a few KiB is cheap).
pub const SPLICE_MIN: u64 = 16 * 1024;

/// Which side failed.
#[derive(Debug, Clone, Copy)]
pub enum SpliceFail {
    /// Reading from the sender (or waiting for it) failed.
    Src(IoFail),
    /// Writing to the receiver (or waiting for it) failed.
    Dst(IoFail),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// All of it moved.
    Done,
    /// All of it moved, and the sender had sent more: bytes past the end of
    /// the body, left in the pipe (which is then closed, not pooled); the
    /// connection must not be reused.
    Overrun,
    /// The sender closed before the run's end.
    Eof,
}

/// Moves `run` bytes (`u64::MAX`: until the sender closes) from `src` to
/// `dst` through `pipe`, which must be empty and is empty again after
/// [`RunEnd::Done`]; `moved` counts the bytes the receiver got, also when it
/// fails. With `probe`, the last fill asks for one byte more than the run,
/// which costs nothing when the sender sent no more and catches a sender
/// that did (the buffered path sees such bytes left in its buffer). On
/// failure the pipe may hold bytes; its pool then closes it.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    pipe: &mut Pipe,
    src: &TcpStream,
    dst: &TcpStream,
    run: u64,
    probe: bool,
    read_timeout: Duration,
    write_timeout: Duration,
    moved: &mut u64,
) -> Result<RunEnd, SpliceFail> {
    if run == 0 {
        return Ok(RunEnd::Done);
    }
    let (from, to) = (src.as_raw_fd(), dst.as_raw_fd());
    set_nonblocking(from).map_err(|e| SpliceFail::Src(e.into()))?;
    set_nonblocking(to).map_err(|e| SpliceFail::Dst(e.into()))?;
    let mut left = run;
    // Bytes in the pipe past the run's end (at most the probe's one).
    let mut past = 0;
    loop {
        // Whatever has arrived, up to the pipe's room and the run's end.
        let want = match left {
            u64::MAX => usize::MAX,
            n => usize::try_from(n.saturating_add(u64::from(probe))).unwrap_or(usize::MAX),
        };
        match pipe.fill(from, want) {
            Ok(0) => return Ok(RunEnd::Eof),
            Ok(n) if left != u64::MAX => {
                let n = n as u64;
                past = n.saturating_sub(left) as usize;
                left -= n.min(left);
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(src.readable(false), read_timeout)
                    .await
                    .map_err(SpliceFail::Src)?;
                continue;
            }
            Err(e) => return Err(SpliceFail::Src(e.into())),
        }
        // All of it to the receiver before reading more: the pipe is the
        // only buffer, and an empty pipe is what a pool takes back.
        while pipe.pending() > past {
            match pipe.drain_at_most(to, pipe.pending() - past) {
                // A pipe with bytes in it that moves none: nothing to wait for.
                Ok(0) => return Err(SpliceFail::Dst(IoFail::Io(None))),
                Ok(n) => *moved += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait(dst.writable(false), write_timeout)
                        .await
                        .map_err(SpliceFail::Dst)?;
                }
                Err(e) => return Err(SpliceFail::Dst(e.into())),
            }
        }
        if left == 0 {
            return Ok(if past > 0 {
                RunEnd::Overrun
            } else {
                RunEnd::Done
            });
        }
    }
}

/// A readiness wait under a deadline.
async fn wait(
    ready: impl std::future::Future<Output = io::Result<()>>,
    limit: Duration,
) -> Result<(), IoFail> {
    match monoio::time::timeout(limit, ready).await {
        Ok(r) => r.map_err(IoFail::from),
        Err(_) => Err(IoFail::Timeout),
    }
}
