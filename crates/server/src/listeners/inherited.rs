//! Sockets a new process received from the old one in a binary upgrade
//! (ADR 19), checked, grouped by listener, waiting to be adopted.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

/// One listener's group as the old process ran it.
pub struct InheritedListener {
    pub name: String,
    pub udp: bool,
    /// Its id in the old process (forwarded QUIC datagrams name it).
    pub old_id: u32,
    /// `h3`: where the group's steering program reads the shard byte.
    pub offset: u8,
    /// The address in the old config (what a new config must repeat).
    pub configured: SocketAddr,
    pub local: SocketAddr,
    /// By shard index, every shard present.
    pub sockets: Vec<OwnedFd>,
}

/// Everything the old process handed over.
pub struct Inherited {
    /// The old process's connection-ID generation.
    pub generation: u8,
    pub shards: usize,
    /// `server.steering` of the old process, as the config spells it.
    pub steering: String,
    pub old_pid: u32,
    pub listeners: Vec<InheritedListener>,
    /// The admin listener and its configured address.
    pub admin: Option<(SocketAddr, OwnedFd)>,
    /// Where old-generation QUIC datagrams go; emptied when the old process
    /// exits (see `shardgate_quic::Predecessor`).
    pub forward: Arc<ArcSwapOption<UnixDatagram>>,
    pub alive: Arc<AtomicBool>,
}
