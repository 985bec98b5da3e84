//! The completion loop: one thread, one ring, no runtime. Each pass submits
//! what the last one queued, waits for a completion, and dispatches every
//! completion by its `user_data` (`token.rs`).
//!
//! File table: slots `[0, conns)` are client sockets, placed there by the
//! multishot accept (a client's slot is also its connection's index);
//! `conns + i` is connection `i`'s upstream socket; `2 * conns` the listener.
//!
//! A connection ends with a cancel of whatever is still in flight on a socket
//! (only if something is: an armed receive holds the file open, and a fixed
//! close alone would leave the socket open, see `sys.rs`'s tests) and a close
//! of its slot, upstream first: once the client slot is free the kernel may
//! give it to a new client, whose upstream slot must be empty by then (both
//! run inline, in order, at submission). Late completions of the old
//! connection are stale by their generation and only return their buffers.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, Socket, Type};

use super::conn::{Chunk, Conn, HIGH, LOW};
use super::sys::{Config, Cqe, Uring};
use super::token::{Op, Peer, Token};

/// Completions handled per pass.
const CQE_BATCH: usize = 256;

pub struct Limits {
    /// Client connections at once (at most `u16::MAX`: slots are u16 in
    /// `user_data`); the file table is twice that plus one.
    pub conns: u16,
    pub bufs: u16,
    pub buf_size: u32,
    pub sq_entries: u32,
}

pub struct Proxy {
    ring: Uring,
    conns: Vec<Conn>,
    upstream: SocketAddr,
    /// Receives that ended for want of buffers (`ENOBUFS`), oldest first,
    /// to re-arm once some come back.
    starved: VecDeque<(u16, u16, Peer)>,
    /// Free buffers to wait for before re-arming starved receives.
    rearm_min: usize,
}

impl Proxy {
    pub fn new(listener: &TcpListener, upstream: SocketAddr, limits: &Limits) -> io::Result<Proxy> {
        let conns = u32::from(limits.conns);
        let cfg = Config {
            entries: limits.sq_entries,
            files: 2 * conns + 1,
            alloc_files: conns,
            bufs: limits.bufs,
            buf_size: limits.buf_size,
        };
        let ring = Uring::new(&cfg, upstream)?;
        ring.register_file(2 * conns, listener.as_fd())?;
        Ok(Proxy {
            ring,
            conns: (0..conns).map(|_| Conn::new()).collect(),
            upstream,
            starved: VecDeque::with_capacity(2 * conns as usize),
            rearm_min: usize::from(limits.bufs / 8).max(1),
        })
    }

    pub fn run(&mut self) -> io::Result<()> {
        self.arm_accept()?;
        let mut cqes = Vec::with_capacity(CQE_BATCH);
        loop {
            self.ring.submit_and_wait()?;
            self.ring.drain(&mut cqes);
            for c in cqes.drain(..) {
                self.dispatch(c)?;
            }
            self.rearm_starved()?;
        }
    }

    /// `Err` only for the ring itself failing; a connection's trouble closes
    /// that connection.
    fn dispatch(&mut self, c: Cqe) -> io::Result<()> {
        let Some(t) = Token::decode(c.user_data) else {
            self.give_back(c.buf);
            return Ok(());
        };
        match t.op {
            Op::Accept => self.on_accept(c),
            Op::Connect => self.on_connect(t, c.result),
            Op::Recv(from) => self.on_recv(t, from, c),
            Op::Send(to) => {
                self.ring.send_done(t.bid);
                self.on_send(t, to, c.result)
            }
            // Nothing to undo when a cancel finds nothing or a close of a
            // slot already empty fails.
            Op::Cancel | Op::Close => Ok(()),
        }
    }

    fn file(&self, slot: u16, peer: Peer) -> u32 {
        match peer {
            Peer::Client => u32::from(slot),
            Peer::Upstream => self.conns.len() as u32 + u32::from(slot),
        }
    }

    fn current(&self, t: Token) -> bool {
        self.conns
            .get(usize::from(t.slot))
            .is_some_and(|c| c.live && c.gen == t.gen)
    }

    fn give_back(&mut self, buf: Option<u16>) {
        if let Some(bid) = buf {
            self.ring.recycle(bid);
        }
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        let listener = 2 * self.conns.len() as u32;
        self.ring
            .accept_multi(listener, Token::new(Op::Accept, 0, 0).encode())
    }

    fn on_accept(&mut self, c: Cqe) -> io::Result<()> {
        if !c.more {
            self.arm_accept()?;
        }
        // Negative: that connection is gone already (e.g. the table is full).
        let Ok(file) = u32::try_from(c.result) else {
            return Ok(());
        };
        let slot = match u16::try_from(file) {
            Ok(slot) if usize::from(slot) < self.conns.len() => slot,
            // Outside the allocation range: cannot happen; do not leak it.
            _ => return self.ring.close(file, Token::new(Op::Close, 0, 0).encode()),
        };
        let conn = &mut self.conns[usize::from(slot)];
        conn.open();
        let gen = conn.gen;
        // Deferred accept: the request is most likely queued, so no POLL_FIRST.
        self.arm_recv(slot, Peer::Client, false)?;
        let up = self.file(slot, Peer::Upstream);
        let registered =
            upstream_socket(self.upstream).and_then(|s| self.ring.register_file(up, s.as_fd()));
        if registered.is_err() {
            return self.teardown(slot);
        }
        let conn = &mut self.conns[usize::from(slot)];
        conn.up.open = true;
        conn.connecting = true;
        self.ring
            .connect(up, Token::new(Op::Connect, slot, gen).encode())
    }

    fn on_connect(&mut self, t: Token, result: i32) -> io::Result<()> {
        if !self.current(t) {
            return Ok(());
        }
        let conn = &mut self.conns[usize::from(t.slot)];
        conn.connecting = false;
        if result < 0 {
            return self.teardown(t.slot);
        }
        conn.connected = true;
        // Nothing can arrive before a request is sent: arm the poll directly.
        self.arm_recv(t.slot, Peer::Upstream, true)?;
        self.kick(t.slot, Peer::Upstream)
    }

    fn on_recv(&mut self, t: Token, from: Peer, c: Cqe) -> io::Result<()> {
        if !self.current(t) {
            self.give_back(c.buf);
            return Ok(());
        }
        let conn = &mut self.conns[usize::from(t.slot)];
        if !c.more {
            conn.half(from).recv_armed = false;
        }
        let Ok(len @ 1..) = u32::try_from(c.result) else {
            self.give_back(c.buf);
            return match -c.result {
                0 => self.on_eof(t.slot, from),
                libc::ENOBUFS => {
                    self.starved.push_back((t.slot, t.gen, from));
                    Ok(())
                }
                // The backpressure cancel: re-armed when the queue drains,
                // or now if it already has.
                libc::ECANCELED => self.resume(t.slot, from),
                _ => self.teardown(t.slot),
            };
        };
        let to = from.other();
        let framed = c
            .buf
            .and_then(|bid| self.ring.buf(bid, 0, len))
            .map(|data| conn.frame(from, data));
        let (Some(bid), Some(Ok(()))) = (c.buf, framed) else {
            self.give_back(c.buf);
            return self.teardown(t.slot);
        };
        conn.half(to).push(Chunk { bid, off: 0, len });
        self.kick(t.slot, to)?;
        let conn = &mut self.conns[usize::from(t.slot)];
        let congested = conn.half(to).out.len() >= HIGH;
        let src = conn.half(from);
        if congested && !src.paused {
            src.paused = true;
            if src.recv_armed {
                return self
                    .ring
                    .cancel(t.encode(), Token::new(Op::Cancel, t.slot, t.gen).encode());
            }
        }
        self.resume(t.slot, from)
    }

    fn on_eof(&mut self, slot: u16, from: Peer) -> io::Result<()> {
        let conn = &mut self.conns[usize::from(slot)];
        // The origin closed between responses (keep-alive limit, or the
        // client asked to close): the client connection ends after them.
        if from == Peer::Upstream && conn.answered() {
            conn.close_after_flush = true;
            if !conn.client.idle() {
                return Ok(());
            }
        }
        self.teardown(slot)
    }

    fn on_send(&mut self, t: Token, to: Peer, result: i32) -> io::Result<()> {
        if !self.current(t) {
            self.ring.recycle(t.bid);
            return Ok(());
        }
        let conn = &mut self.conns[usize::from(t.slot)];
        let half = conn.half(to);
        half.sending = false;
        let Ok(n) = u32::try_from(result) else {
            return self.teardown(t.slot);
        };
        match half.sent(t.bid, n) {
            Ok(Some(bid)) => {
                self.ring.recycle(bid);
            }
            Ok(None) => {}
            Err(_) => return self.teardown(t.slot),
        }
        self.kick(t.slot, to)?;
        let conn = &mut self.conns[usize::from(t.slot)];
        if conn.close_after_flush && conn.client.idle() {
            return self.teardown(t.slot);
        }
        if conn.half(to).out.len() <= LOW && conn.half(to.other()).paused {
            conn.half(to.other()).paused = false;
            return self.resume(t.slot, to.other());
        }
        Ok(())
    }

    /// Sends the front chunk queued for `to`, unless one is in flight.
    fn kick(&mut self, slot: u16, to: Peer) -> io::Result<()> {
        let file = self.file(slot, to);
        let conn = &mut self.conns[usize::from(slot)];
        if to == Peer::Upstream && !conn.connected {
            return Ok(());
        }
        let gen = conn.gen;
        let half = conn.half(to);
        if half.sending || !half.open {
            return Ok(());
        }
        let Some(&Chunk { bid, off, len }) = half.out.front() else {
            return Ok(());
        };
        half.sending = true;
        let token = Token::new(Op::Send(to), slot, gen).with_bid(bid);
        self.ring.send(file, bid, off, len, token.encode())
    }

    /// Re-arms `peer`'s receive if it is down and nothing holds it back.
    fn resume(&mut self, slot: u16, peer: Peer) -> io::Result<()> {
        if self.armable(slot, peer) {
            self.arm_recv(slot, peer, false)?;
        }
        Ok(())
    }

    /// `peer`'s receive is down and nothing holds it back.
    fn armable(&mut self, slot: u16, peer: Peer) -> bool {
        let conn = &mut self.conns[usize::from(slot)];
        let live = conn.live;
        let half = conn.half(peer);
        live && half.open && !half.recv_armed && !half.paused
    }

    fn arm_recv(&mut self, slot: u16, peer: Peer, poll_first: bool) -> io::Result<()> {
        let file = self.file(slot, peer);
        let conn = &mut self.conns[usize::from(slot)];
        conn.half(peer).recv_armed = true;
        let token = Token::new(Op::Recv(peer), slot, conn.gen);
        self.ring.recv_multi(file, poll_first, token.encode())
    }

    /// Re-arms at most as many starved receives as there are free buffers,
    /// once a share has come back: re-arming them all on a few buffers would
    /// have most fail again at once, round after round.
    fn rearm_starved(&mut self) -> io::Result<()> {
        let mut budget = self.ring.free_buffers();
        if budget < self.rearm_min {
            return Ok(());
        }
        while budget > 0 {
            let Some((slot, gen, peer)) = self.starved.pop_front() else {
                break;
            };
            if self.conns[usize::from(slot)].gen == gen && self.armable(slot, peer) {
                self.arm_recv(slot, peer, false)?;
                budget -= 1;
            }
        }
        Ok(())
    }

    fn teardown(&mut self, slot: u16) -> io::Result<()> {
        let conn = &mut self.conns[usize::from(slot)];
        if !conn.live {
            return Ok(());
        }
        conn.live = false;
        let gen = conn.gen;
        for peer in [Peer::Upstream, Peer::Client] {
            let file = self.file(slot, peer);
            let conn = &mut self.conns[usize::from(slot)];
            let connecting = peer == Peer::Upstream && conn.connecting;
            let half = conn.half(peer);
            let ring = &mut self.ring;
            half.drain_unsent(|bid| {
                ring.recycle(bid);
            });
            if !half.open {
                continue;
            }
            half.open = false;
            if half.recv_armed || half.sending || connecting {
                ring.cancel_file(file, Token::new(Op::Cancel, slot, gen).encode())?;
            }
            ring.close(file, Token::new(Op::Close, slot, gen).encode())?;
        }
        Ok(())
    }
}

/// A socket for the origin, with TCP_NODELAY (a request body sent in several
/// chunks must not wait for acks). Made with syscalls, as io-uring 0.6.4 has
/// no setsockopt command; once registered the fd is closed.
fn upstream_socket(upstream: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::for_address(upstream),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    s.set_tcp_nodelay(true)?;
    Ok(s)
}
