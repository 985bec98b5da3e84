//! A shard's parking lot for idle connections: a private epoll instance
//! watching sockets that no task holds.
//!
//! An idle keep-alive connection parked as a task costs a task, its future
//! (the connection state) and a runtime operation — about 0.9–1.7 KB each at
//! 15,000 connections. Parked here instead, it costs one epoll entry in the
//! kernel and a preallocated slot in the connection table: the socket's
//! descriptor is duplicated out of the runtime's stream type (which is then
//! dropped), watched here, and handed back to a new stream when it becomes
//! readable. One task per shard waits for this epoll's own descriptor to
//! become readable, which io_uring and epoll can both do.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::epoll::{dup, Epoll};

pub struct Poller {
    epoll: Epoll,
    scratch: Vec<u64>,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            epoll: Epoll::new()?,
            scratch: Vec::with_capacity(256),
        })
    }

    /// A second descriptor of this epoll instance, for the runtime to wait on
    /// (readable = some watched socket is ready).
    pub fn wait_fd(&self) -> io::Result<OwnedFd> {
        self.epoll.try_clone()
    }

    /// Watches `fd` (once) and reports `token` when it has input, a hang-up or
    /// an error.
    pub fn watch(&self, fd: &OwnedFd, token: u32) -> io::Result<()> {
        self.epoll.add(fd.as_raw_fd(), u64::from(token))
    }

    /// Stops watching `fd` (call before handing it back to the runtime).
    pub fn unwatch(&self, fd: &OwnedFd) -> io::Result<()> {
        self.epoll.delete(fd.as_raw_fd())
    }

    /// The tokens of the watched sockets that are ready now.
    pub fn ready(&mut self) -> io::Result<impl Iterator<Item = u32> + '_> {
        self.scratch.clear();
        self.epoll.ready(&mut self.scratch)?;
        Ok(self.scratch.drain(..).filter_map(|t| u32::try_from(t).ok()))
    }
}

/// A descriptor of its own for the socket behind `fd` (which the caller owns
/// and may drop afterwards).
pub fn duplicate(fd: RawFd) -> io::Result<OwnedFd> {
    dup(fd)
}
