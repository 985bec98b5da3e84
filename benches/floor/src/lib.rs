//! What the floor binaries (`floor`, `floor-uring`) share.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

/// The listening socket, bound as the gateway binds and as the harness
/// configures all three proxies: `SO_REUSEPORT`, `TCP_NODELAY` inherited by
/// accepted sockets, and `TCP_DEFER_ACCEPT`, so a new connection is handed
/// over with its request queued.
pub fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    let opts = shardgate_net::ListenOpts {
        backlog: 4096,
        tcp_fast_open: 0,
        steering: shardgate_net::Steering::None,
        defer_accept: true,
    };
    let mut group = shardgate_net::bind_tcp_group(listen, 1, &opts).context("bind")?;
    group.pop().context("bind: no socket")
}
