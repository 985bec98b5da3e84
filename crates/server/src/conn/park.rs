//! Parking idle connections outside the runtime (ADR 6, ADR 8).
//!
//! After the hot window a connection's request task ends: its socket is
//! duplicated into the shard's `Poller` (a private epoll instance), its state
//! goes into its connection-table slot, and the runtime's stream is dropped.
//! An idle keep-alive connection then costs no task, no future, no runtime
//! operation and no buffer — only the preallocated slot and a kernel epoll
//! entry. One task per shard ([`lot`]) waits for the poller's descriptor to
//! become readable and resumes each ready connection on a new request task.
//! Idle deadlines and drains are enforced by the table's sweep, which closes
//! parked sockets itself.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

use monoio::net::udp::UdpSocket;
use monoio::net::TcpStream;
use shardgate_net::duplicate;

use super::{account_close, closed, run, Conn, Downstream};
use crate::conn_table::Parked;
use crate::shard::ShardCtx;

/// Parks `c` until it is readable or `deadline` passes. Hands the connection
/// back when it cannot be parked (no descriptor left for the duplicate, at the
/// process's fd limit): the caller then keeps waiting in its task.
pub fn park(ctx: &Rc<ShardCtx>, c: Conn, deadline: Instant) -> Option<Conn> {
    let fd = match duplicate(c.down.stream.as_raw_fd()) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::debug!(shard = ctx.id, error = %e, "could not park a connection");
            return Some(c);
        }
    };
    if let Err(e) = ctx.poller.borrow().watch(&fd, c.slot.index()) {
        tracing::debug!(shard = ctx.id, error = %e, "could not park a connection");
        return Some(c);
    }
    let Conn {
        down,
        listener,
        slot,
        accepted,
        first,
    } = c;
    let peer = down.peer;
    // Closes the runtime's descriptor; `fd` keeps the socket open.
    drop(down);
    slot.park(Parked {
        fd,
        peer,
        listener: u32::try_from(listener).unwrap_or(u32::MAX),
        first,
        accepted,
        deadline,
    });
    None
}

/// The shard's parking lot: resumes parked connections as they become ready.
pub async fn lot(ctx: Rc<ShardCtx>) {
    // monoio waits for readiness only on its own types; a UDP socket over a
    // duplicate of the epoll descriptor is one that does nothing but that
    // (`readable` is a POLL_ADD on io_uring, an epoll registration otherwise).
    let waiter = match ctx
        .poller
        .borrow()
        .wait_fd()
        .and_then(|fd| UdpSocket::from_std(std::net::UdpSocket::from(fd)))
    {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(shard = ctx.id, error = %e, "parking lot unavailable");
            return;
        }
    };
    let mut ready: Vec<u32> = Vec::with_capacity(256);
    loop {
        let woke = monoio::select! {
            r = waiter.readable(false) => r.is_ok(),
            _ = ctx.shutdown.wait() => false,
        };
        if !woke {
            return;
        }
        ready.clear();
        match ctx.poller.borrow_mut().ready() {
            Ok(tokens) => ready.extend(tokens),
            Err(e) => tracing::warn!(shard = ctx.id, error = %e, "parking lot poll failed"),
        }
        for &idx in &ready {
            resume(&ctx, idx);
        }
    }
}

fn resume(ctx: &Rc<ShardCtx>, idx: u32) {
    let Some((slot, p)) = ctx.table.unpark(idx) else {
        return;
    };
    let _ = ctx.poller.borrow().unwatch(&p.fd);
    let stream = match TcpStream::from_std(std::net::TcpStream::from(p.fd)) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(shard = ctx.id, error = %e, "could not resume a connection");
            closed(ctx, slot, p.accepted);
            return;
        }
    };
    let c = Conn {
        down: Downstream {
            stream,
            peer: p.peer,
            buf: Vec::new(),
            pos: 0,
            canceller: None,
            secure: false,
        },
        listener: p.listener as usize,
        slot,
        accepted: p.accepted,
        first: p.first,
    };
    monoio::spawn(run(ctx.clone(), c));
}

/// For the sweep: a parked connection past its deadline (or drained).
pub fn expire(ctx: &ShardCtx, p: Parked) {
    let _ = ctx.poller.borrow().unwatch(&p.fd);
    let accepted = p.accepted;
    drop(p);
    account_close(ctx, accepted);
}
