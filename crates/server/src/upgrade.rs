//! Zero-downtime binary upgrade (ADR 19). The old process (`parent`) starts
//! the new binary with one end of a `SOCK_SEQPACKET` pair inherited (named
//! by [`FD_VAR`]), hands over every listening socket with `SCM_RIGHTS`
//! (`wire` has the records), and retires once the new process (`child`)
//! reports ready; `retire` is what retiring changes in the old process,
//! `feed` its thread that takes forwarded QUIC datagrams of its connections.
//! Files depend only on those listed before them.

pub mod child;
mod feed;
pub mod parent;
mod retire;
pub mod wire;

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use shardgate_config::Steering;

use crate::listeners::inherited::Inherited;
use crate::Error;

/// The environment variable naming the inherited channel's descriptor.
pub const FD_VAR: &str = "SHARDGATE_UPGRADE_FD";

/// How long the old process waits for `ready` (the new process loads its
/// config, binds new listeners, starts its shards).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long either side waits for one record once the exchange is under way.
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(10);

/// The steering mode as the config spells it (sent in `hello`).
pub fn steering_name(s: Steering) -> &'static str {
    match s {
        Steering::Cpu => "cpu",
        Steering::Hash => "hash",
        Steering::None => "none",
    }
}

/// The handed-over groups have the old shard count and steering program:
/// a config that changes either cannot adopt them.
pub fn check_layout(inh: &Inherited, shards: usize, steering: Steering) -> Result<(), Error> {
    if inh.shards != shards {
        return Err(Error::Upgrade(format!(
            "server.shards: {shards} shards here, the running process has {}: the handed-over reuseport groups have that many sockets (restart instead)",
            inh.shards
        )));
    }
    if inh.steering != steering_name(steering) {
        return Err(Error::Upgrade(format!(
            "server.steering: \"{}\" here, the running process's groups carry \"{}\" programs (restart instead)",
            steering_name(steering),
            inh.steering
        )));
    }
    Ok(())
}

/// The previous process as its successor sees it while it drains.
pub struct Predecessor {
    pub pid: u32,
    pub forward: Arc<ArcSwapOption<UnixDatagram>>,
    /// False once it exited (its end of the channel closed).
    pub alive: Arc<AtomicBool>,
}

impl From<Inherited> for Predecessor {
    fn from(i: Inherited) -> Self {
        // What the config did not adopt (listeners, the admin socket) is
        // dropped with the rest of `i`: closed in this process.
        Predecessor {
            pid: i.old_pid,
            forward: i.forward,
            alive: i.alive,
        }
    }
}
