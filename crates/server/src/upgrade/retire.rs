//! What a binary upgrade does to the running `Server` (ADR 19): hand over
//! (old process), report ready and learn when the old process is gone (new
//! process), and tell when a retired process has nothing left to finish.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::child::Successor;
use super::parent::{hand_over, Offer};
use super::{feed, steering_name};
use crate::{Error, Server};

impl Server {
    /// Starts `program args…` as this process's successor and hands it every
    /// socket; returns its PID once it serves, and this process retires.
    /// Refused while this process retires, or while its own predecessor
    /// still drains (at most one old generation at a time). On any failure
    /// nothing changes here; the outcome is counted and logged.
    pub fn upgrade(&self, program: &Path, args: &[OsString]) -> Result<u32, Error> {
        let m = &self.upgrade_metrics;
        m.started.increment(1);
        let result = self.try_upgrade(program, args);
        match &result {
            Ok(pid) => {
                m.succeeded.increment(1);
                tracing::info!(pid, "upgrade: the new process serves; this one retires");
            }
            Err(e) => {
                m.failed.increment(1);
                tracing::error!("upgrade failed, this process keeps serving: {e}");
            }
        }
        result
    }

    fn try_upgrade(&self, program: &Path, args: &[OsString]) -> Result<u32, Error> {
        // PID 1 of a PID namespace (a container's main process): when it
        // exits after the hand-over, the kernel kills every process in the
        // namespace, the successor and its requests included.
        if std::process::id() == 1 {
            return Err(Error::Upgrade(
                "this process is PID 1 of its PID namespace (a container's main process): when it exits after the hand-over the kernel kills the new process too; replace the container instead (docs/operations.md, \"Container\")".into(),
            ));
        }
        if self.shared.retiring.load(Ordering::Relaxed) || self.handed_over.get().is_some() {
            return Err(Error::Upgrade(
                "this process has already handed over; signal its successor".into(),
            ));
        }
        if let Some(p) = self
            .predecessor
            .as_ref()
            .filter(|p| p.alive.load(Ordering::Relaxed))
        {
            return Err(Error::Upgrade(format!(
                "the previous process (PID {}) is still draining; at most one old generation runs at a time: retry once it has exited",
                p.pid
            )));
        }
        let listeners = self.publisher.running();
        let snap = self.shared.snapshot.load();
        let offer = Offer {
            generation: self.cid_generation,
            shards: self.shared.stats.len(),
            steering: steering_name(snap.config.server.steering),
            listeners: &listeners,
            admin: self.admin_fd.as_ref().map(|(a, fd)| (*a, fd.as_fd())),
        };
        let handed = hand_over(&offer, program, args, || self.retire(&listeners))?;
        let hubs = listeners
            .iter()
            .filter_map(|l| Some((l.id.0, l.quic.as_ref()?.0.clone())))
            .collect();
        if let Err(e) = feed::spawn(handed.forward, hubs, offer.shards) {
            tracing::error!(error = %e, "upgrade: no forwarding thread; old QUIC connections will time out");
        }
        let pid = handed.pid;
        let _ = self.handed_over.set(handed.control);
        Ok(pid)
    }

    /// Stops reading the UDP sockets (the successor forwards this process's
    /// datagrams), ends the accept loops (on each shard's next tick) and the
    /// admin thread, and makes every response close its connection.
    fn retire(&self, listeners: &[crate::listeners::plan::Running]) {
        self.shared.retiring.store(true, Ordering::Relaxed);
        self.shared.udp_gate.store(false, Ordering::Relaxed);
        for (hub, _) in listeners.iter().filter_map(|l| l.quic.as_ref()) {
            hub.nudge_all();
        }
    }

    /// True once a retired process has no TCP connection and no QUIC
    /// connection left: it may stop.
    pub fn retired_idle(&self) -> bool {
        self.shard_stats().iter().all(|s| s.active == 0)
            && self.shared.snapshot.load().quic_tables.iter().all(|t| {
                let c = t.slots.counts();
                c.busy + c.draining == 0
            })
    }

    /// Whether this process handed over to a successor.
    pub fn retired(&self) -> bool {
        self.handed_over.get().is_some()
    }

    /// A process started by an upgrade tells the old one it serves, then
    /// reads its QUIC sockets once the old one stopped; when the old one
    /// exits its generation's datagrams are no longer forwarded.
    pub fn confirm_ready(&self, successor: Successor) -> Result<(), Error> {
        let gate = self.shared.udp_gate.clone();
        let hubs: Vec<_> = self
            .publisher
            .running()
            .iter()
            .filter_map(|l| Some(l.quic.as_ref()?.0.clone()))
            .collect();
        let open = {
            let hubs = hubs.clone();
            move || {
                gate.store(true, Ordering::Relaxed);
                for h in &hubs {
                    h.nudge_all();
                }
            }
        };
        let (forward, alive, pid) = match &self.predecessor {
            Some(p) => (p.forward.clone(), p.alive.clone(), p.pid),
            None => return Err(Error::Upgrade("not started by an upgrade".into())),
        };
        successor.ready(open, move || {
            alive.store(false, Ordering::Relaxed);
            // Closes the forwarding socket once no shard is sending on it.
            forward.store(None);
            tracing::info!(pid, "the previous process has exited");
        })
    }
}

impl Server {
    /// `server.timeouts.shutdown_grace` of the running generation: how long
    /// a retired process waits for its connections before it stops.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        self.shared
            .snapshot
            .load()
            .config
            .server
            .timeouts
            .shutdown_grace
    }
}
