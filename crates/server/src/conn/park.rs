//! Parking idle connections outside the runtime (ADR 6, ADR 8).
//!
//! After the hot window a connection's request task ends: its socket is
//! duplicated into the shard's `Poller` (a private epoll instance), its state
//! goes into its connection-table slot, and the runtime's stream is dropped.
//! An idle keep-alive connection then costs no task, no future, no runtime
//! operation and no buffer — only the preallocated slot and a kernel epoll
//! entry. One task per shard (`conn::lot`) waits for the poller's descriptor to
//! become readable and resumes each ready connection on a new request task.
//! Idle deadlines and drains are enforced by the table's sweep, which closes
//! parked sockets itself.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Instant;

use shardgate_net::duplicate;

use super::state::{account_close, Conn};
use crate::conn_table::Parked;
use crate::ctx::ShardCtx;

/// Parks `c` until it is readable or `deadline` passes. Hands the connection
/// back when it cannot be parked (no descriptor left for the duplicate, at the
/// process's fd limit): the caller then keeps waiting in its task.
pub fn park(ctx: &Rc<ShardCtx>, c: Conn, deadline: Instant) -> Option<Conn> {
    let Some(fd) = watch(ctx, &c.down.stream, c.slot.index()) else {
        return Some(c);
    };
    let Conn {
        down,
        listener,
        slot,
        accepted,
        first,
    } = c;
    let peer = down.peer;
    let idle_from_ms = Parked::idle_from_ms(accepted, down.idle_from);
    // Closes the runtime's descriptor; `fd` keeps the socket open.
    drop(down);
    slot.park(Parked {
        fd,
        peer,
        listener: listener.0,
        first,
        accepted,
        deadline,
        tls: None,
        idle_from_ms,
    });
    None
}

/// A duplicate of `sock`'s descriptor, watched by the shard's poller under
/// slot `idx`; None when either fails (at the fd limit, say): the caller
/// then keeps the connection in its task.
pub fn watch(ctx: &ShardCtx, sock: &impl AsRawFd, idx: u32) -> Option<OwnedFd> {
    let fd = match duplicate(sock.as_raw_fd()) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::debug!(shard = ctx.id, error = %e, "could not park a connection");
            return None;
        }
    };
    if let Err(e) = ctx.poller.borrow().watch(&fd, idx) {
        tracing::debug!(shard = ctx.id, error = %e, "could not park a connection");
        return None;
    }
    Some(fd)
}

/// For the sweep: a parked connection past its deadline (or drained).
pub fn expire(ctx: &ShardCtx, p: Parked) {
    let _ = ctx.poller.borrow().unwatch(&p.fd);
    let accepted = p.accepted;
    if let Some(mut tls) = p.tls {
        // Say goodbye the way TLS should (RFC 8446 §6.1), best effort: the
        // socket is non-blocking and its send buffer empty (the connection
        // was idle), so the ≈24-byte alert goes out at once or not at all.
        tls.session.send_close_notify();
        let mut alert = Vec::with_capacity(64);
        if tls.session.write_tls(&mut alert).is_ok() {
            let _ = (&std::net::TcpStream::from(p.fd)).write(&alert);
        }
    }
    account_close(ctx, accepted);
}
