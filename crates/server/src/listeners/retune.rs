//! A reload that changes only a TCP listener's `backlog`, `tcp_fast_open`
//! or `defer_accept` keeps its sockets and connections and sets the new
//! options on them in place: rebinding the same address would join the old
//! `SO_REUSEPORT` group (ADR 18), and removing the listener first would
//! refuse connections in between.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use shardgate_config::Steering;
use shardgate_net::{retune_tcp_listener, ListenOpts};

use super::bind::net_steering;
use super::id::SocketParams;
use crate::Error;

/// One listener's sockets and the options to move them between.
pub struct Retune {
    pub name: String,
    pub fds: Arc<Vec<OwnedFd>>,
    pub from: ListenOpts,
    pub to: ListenOpts,
}

/// Whether `old` may become `new` in place: the same TCP address and
/// protocol, only the three socket options differ.
pub fn in_place(old: &SocketParams, new: &SocketParams) -> bool {
    old != new
        && !old.udp()
        && old.address == new.address
        && old.protocol == new.protocol
        && old.quic == new.quic
}

fn opts(p: &SocketParams, steering: Steering) -> ListenOpts {
    ListenOpts {
        backlog: p.backlog,
        tcp_fast_open: p.tcp_fast_open,
        defer_accept: p.defer_accept,
        steering: net_steering(steering),
    }
}

impl Retune {
    pub fn new(
        name: &str,
        fds: Arc<Vec<OwnedFd>>,
        from: &SocketParams,
        to: &SocketParams,
        steering: Steering,
    ) -> Self {
        Retune {
            name: name.to_string(),
            fds,
            from: opts(from, steering),
            to: opts(to, steering),
        }
    }
}

/// Sets every listed listener's new options; on a failure, puts back the
/// ones already changed (best effort) and refuses with the listener's name.
pub fn apply(all: &[Retune]) -> Result<(), Error> {
    for (i, r) in all.iter().enumerate() {
        if let Err(e) = r
            .fds
            .iter()
            .try_for_each(|fd| retune_tcp_listener(fd, &r.to))
        {
            undo(all.get(..=i).unwrap_or_default());
            return Err(Error::Reload(format!(
                "listener \"{}\": setting its new socket options: {e}",
                r.name
            )));
        }
    }
    Ok(())
}

/// Puts the old options back (a later step refused the reload).
pub fn undo(all: &[Retune]) {
    for r in all {
        for fd in r.fds.iter() {
            if let Err(e) = retune_tcp_listener(fd, &r.from) {
                tracing::error!(listener = %r.name, error = %e, "could not restore socket options");
            }
        }
    }
}
