//! The shard's parking lot: one task that resumes parked connections (see
//! `conn::park`) on new request tasks as they become readable.

use std::rc::Rc;

use monoio::net::udp::UdpSocket;
use monoio::net::TcpStream;

use super::downstream::Downstream;
use super::run::run;
use super::secure::{self, guarded::Guarded, run::TlsConn, stream::TlsStream};
use super::state::{closed, Conn};
use crate::conn_table::ParkedTls;
use crate::ctx::ShardCtx;
use crate::listeners::ListenerId;

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
    let listener = ListenerId(p.listener);
    let drain = ctx.listener_drain(listener);
    if drain.is_set() {
        // Its listener was removed (the sweep closes the others): no
        // request is served on it any more.
        let _ = ctx.poller.borrow().unwatch(&p.fd);
        closed(ctx, slot, p.accepted);
        return;
    }
    let idle_from = p.idle_from();
    let stream = match TcpStream::from_std(std::net::TcpStream::from(p.fd)) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(shard = ctx.id, error = %e, "could not resume a connection");
            closed(ctx, slot, p.accepted);
            return;
        }
    };
    if let Some(tls) = p.tls {
        let ParkedTls { session, info } = *tls;
        let stream = TlsStream::new(stream, session, ctx.tls_buffers.clone());
        let mut down = Downstream::new(Guarded::new(stream), p.peer, Some(info), drain);
        down.idle_from = idle_from;
        let c = TlsConn {
            down,
            listener,
            slot,
            accepted: p.accepted,
            first: p.first,
        };
        monoio::spawn(secure::run::run(ctx.clone(), c));
        return;
    }
    let mut down = Downstream::new(stream, p.peer, None, drain);
    down.idle_from = idle_from;
    let c = Conn {
        down,
        listener,
        slot,
        accepted: p.accepted,
        first: p.first,
    };
    monoio::spawn(run(ctx.clone(), c));
}
