//! The stable identity of a bound listener and what decides whether a
//! reload keeps its sockets.

use std::net::SocketAddr;

use shardgate_config::{ListenerConfig, Protocol};

/// One bound listener for the life of its sockets. Handed out by the
/// publisher from a counter and never reused, so a connection of a removed
/// listener can never be mistaken for one of a listener added later under
/// the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u32);

/// What a reload cannot change on a listener without binding it anew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketParams {
    pub address: SocketAddr,
    pub protocol: Protocol,
    pub backlog: u32,
    pub tcp_fast_open: u32,
    pub defer_accept: bool,
    /// `h3`: the per-shard connection table's size (allocated when bound)
    /// and the server id every connection ID carries.
    pub quic: Option<(usize, Vec<u8>)>,
}

impl SocketParams {
    pub fn of(l: &ListenerConfig) -> Self {
        SocketParams {
            address: l.address,
            protocol: l.protocol,
            backlog: l.backlog,
            tcp_fast_open: l.tcp_fast_open,
            defer_accept: l.defer_accept,
            quic: l
                .quic
                .as_ref()
                .filter(|_| l.protocol == Protocol::H3)
                .map(|q| (q.max_connections, q.server_id.clone())),
        }
    }

    /// TCP and UDP ports are separate namespaces: an `h3` listener may share
    /// its address with a TLS listener.
    pub fn udp(&self) -> bool {
        self.protocol == Protocol::H3
    }
}
