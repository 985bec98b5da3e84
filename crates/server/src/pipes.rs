//! The shard's pipes for splicing response bodies (ADR 22).
//!
//! A body that needs no transformation moves upstream socket → pipe →
//! client socket inside the kernel. A pipe is lent to one response while its
//! body moves and comes back empty; one that a failed transfer left bytes in
//! is closed instead (those bytes belong to a response that ended).
//!
//! Bounded like the buffer pools: at most `max_open` pipes exist per shard
//! (two descriptors each); a response that finds none left is copied
//! through a buffer as before. Idle pipes are trimmed by the sweep like
//! buffers ([`IdleStack`]): half of those unused through a whole interval
//! are closed, down to a floor.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use shardgate_net::Pipe;

use crate::idle::IdleStack;

/// Idle pipes a trim never closes: a steady load neither opens nor closes.
const TRIM_FLOOR: usize = 16;

pub struct PipePool {
    size: usize,
    free: IdleStack<PooledPipe>,
    /// Pipes that exist: idle here or lent out. Each pipe holds a count
    /// and takes itself off when it is closed, wherever that happens (a
    /// response future dropped half-way closes its pipe).
    open: Rc<Cell<usize>>,
    max_open: usize,
}

/// A pipe of the pool: lent by [`PipePool::take`], back with
/// [`PipePool::give`]; dropping it closes it.
pub struct PooledPipe {
    pipe: Pipe,
    open: Rc<Cell<usize>>,
}

impl PipePool {
    /// `size`: each pipe's capacity (a wish, see [`Pipe::new`]).
    pub fn new(size: usize, max_open: usize) -> Self {
        Self {
            size,
            free: IdleStack::new(max_open, TRIM_FLOOR),
            open: Rc::new(Cell::new(0)),
            max_open,
        }
    }

    /// An empty pipe, or None when `max_open` are out or the kernel refuses
    /// one (out of descriptors): the caller copies instead.
    pub fn take(&self) -> Option<PooledPipe> {
        if let Some(p) = self.free.pop() {
            return Some(p);
        }
        if self.open.get() >= self.max_open {
            return None;
        }
        match Pipe::new(self.size) {
            Ok(pipe) => {
                self.open.set(self.open.get() + 1);
                Some(PooledPipe {
                    pipe,
                    open: Rc::clone(&self.open),
                })
            }
            Err(e) => {
                tracing::debug!(error = %e, "no pipe for splicing; copying the body");
                None
            }
        }
    }

    /// Takes a pipe back; one with bytes left in it (a transfer that
    /// failed half-way) is closed, which discards them.
    pub fn give(&self, pipe: PooledPipe) {
        if pipe.pending() == 0 {
            self.free.push(pipe);
        }
    }

    /// Closes half of the pipes that stayed idle since the last trim
    /// (keeping `TRIM_FLOOR`); returns how many were closed.
    pub fn trim(&self) -> usize {
        self.free.trim()
    }

    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.get()
    }

    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.free.len()
    }
}

impl Deref for PooledPipe {
    type Target = Pipe;

    fn deref(&self) -> &Pipe {
        &self.pipe
    }
}

impl DerefMut for PooledPipe {
    fn deref_mut(&mut self) -> &mut Pipe {
        &mut self.pipe
    }
}

impl Drop for PooledPipe {
    fn drop(&mut self) {
        self.open.set(self.open.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn lends_at_most_max_open_and_reuses_returned_pipes() {
        let pool = PipePool::new(64 * 1024, 2);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert!(pool.take().is_none(), "two are out");
        assert_eq!(pool.open(), 2);
        pool.give(a);
        assert_eq!(pool.idle(), 1);
        let c = pool.take().unwrap();
        assert_eq!(pool.open(), 2, "the returned pipe was lent again");
        drop(b);
        assert_eq!(
            pool.open(),
            1,
            "a pipe dropped while lent is closed and counted off"
        );
        pool.give(c);
        assert_eq!(pool.idle(), 1);
        assert!(pool.take().is_some() && pool.take().is_some());
    }

    #[test]
    fn a_pipe_with_bytes_left_is_closed_not_kept() {
        let pool = PipePool::new(64 * 1024, 4);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut origin = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (up, _) = l.accept().unwrap();
        shardgate_net::set_nonblocking(up.as_raw_fd()).unwrap();
        origin.write_all(b"left over").unwrap();
        let mut p = pool.take().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while p.pending() == 0 && std::time::Instant::now() < deadline {
            let _ = p.fill(up.as_raw_fd(), 100);
        }
        assert_eq!(p.pending(), 9);
        pool.give(p);
        assert_eq!(pool.idle(), 0);
        assert_eq!(pool.open(), 0);
    }

    #[test]
    fn trim_closes_half_of_what_stayed_idle_down_to_the_floor() {
        let pool = PipePool::new(64 * 1024, 100);
        let burst: Vec<_> = (0..60).map(|_| pool.take().unwrap()).collect();
        for p in burst {
            pool.give(p);
        }
        assert_eq!(pool.trim(), 0, "every pipe was in use in this interval");
        assert_eq!(pool.trim(), 22, "half of 60 - 16, rounded up");
        assert_eq!(pool.open(), 38);
        for _ in 0..10 {
            pool.trim();
        }
        assert_eq!(pool.idle(), TRIM_FLOOR);
        assert_eq!(pool.open(), TRIM_FLOOR);
    }
}
