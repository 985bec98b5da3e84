//! The old process's side of an upgrade (ADR 19): start the new binary with
//! the channel inherited, hand over every socket, wait (bounded) for its
//! verdict, and on `ready` retire and say `go`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shardgate_net::{recv_with_fds, send_with_fds, seqpacket_pair, set_inheritable, set_timeouts};

use super::wire::{Record, SocketRecord, MAX_RECORD, VERSION};
use super::{FD_VAR, READY_TIMEOUT, RECORD_TIMEOUT};
use crate::listeners::plan::Running;
use crate::Error;

/// How often the wait for the verdict looks whether the child died.
const POLL: Duration = Duration::from_millis(100);
/// How long a refusing child gets to exit before it is killed.
const REAP: Duration = Duration::from_secs(5);

/// What this process hands over.
pub struct Offer<'a> {
    pub generation: u8,
    pub shards: usize,
    pub steering: &'static str,
    pub listeners: &'a [Running],
    pub admin: Option<(SocketAddr, BorrowedFd<'a>)>,
}

/// A successful hand-over.
pub struct Handed {
    pub pid: u32,
    /// Kept open until this process exits.
    pub control: OwnedFd,
    /// Where the successor forwards this process's QUIC datagrams.
    pub forward: UnixDatagram,
}

fn fail(why: impl std::fmt::Display) -> Error {
    Error::Upgrade(why.to_string())
}

/// Runs `program args…` as the successor and hands `offer` over; `retire`
/// runs once it is ready, before `go`.
pub fn hand_over(
    offer: &Offer<'_>,
    program: &Path,
    args: &[OsString],
    retire: impl FnOnce(),
) -> Result<Handed, Error> {
    let (control, child_end) = seqpacket_pair().map_err(fail)?;
    let (forward, forward_tx) = UnixDatagram::pair().map_err(fail)?;
    // Only this descriptor crosses exec; every other one is close-on-exec.
    set_inheritable(child_end.as_fd(), true).map_err(fail)?;
    let child = Command::new(program)
        .args(args)
        .env(FD_VAR, child_end.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("starting {}: {e}", program.display())))?;
    drop(child_end);
    let mut child = Reaped(Some(child));
    set_timeouts(control.as_fd(), Some(RECORD_TIMEOUT)).map_err(fail)?;
    let sent = send_all(&control, offer, forward_tx.as_fd());
    drop(forward_tx);
    if let Err(e) = sent {
        // A child that died (a config error before it read anything) says why.
        return Err(child.verdict(&control).err().unwrap_or(e));
    }
    let pid = child.verdict(&control)?;
    retire();
    if let Err(e) = send_with_fds(control.as_fd(), &Record::Go.encode(), &[]) {
        tracing::warn!(error = %e, "could not send go; the new process reads the QUIC sockets on its own");
    }
    child.detach();
    Ok(Handed {
        pid,
        control,
        forward,
    })
}

fn send_all(control: &OwnedFd, offer: &Offer<'_>, forward: BorrowedFd<'_>) -> Result<(), Error> {
    let send = |r: Record, fd: Option<BorrowedFd<'_>>| {
        let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
        send_with_fds(control.as_fd(), &r.encode(), &fds)
            .map(drop)
            .map_err(|e| fail(format!("handing over: {e}")))
    };
    let mut records = 0usize;
    send(
        Record::Hello {
            version: VERSION,
            generation: offer.generation,
            shards: offer.shards,
            steering: offer.steering.to_string(),
            pid: std::process::id(),
        },
        None,
    )?;
    records += 1;
    for l in offer.listeners {
        for (shard, fd) in l.fds.iter().enumerate() {
            let r = SocketRecord {
                udp: l.params.udp(),
                shard,
                id: l.id.0,
                offset: l.quic.as_ref().map_or(0, |q| q.1),
                configured: l.params.address,
                local: l.local,
                name: l.name.clone(),
            };
            send(Record::Socket(r), Some(fd.as_fd()))?;
            records += 1;
        }
    }
    if let Some((configured, fd)) = offer.admin {
        send(Record::Admin { configured }, Some(fd))?;
        records += 1;
    }
    send(Record::Forward, Some(forward))?;
    records += 1;
    send(Record::End { records }, None)
}

/// The child until it is ready; killed and reaped if dropped before.
struct Reaped(Option<Child>);

impl Reaped {
    /// Waits for `ready` (its PID) or the reason the child will not serve.
    fn verdict(&mut self, control: &OwnedFd) -> Result<u32, Error> {
        set_timeouts(control.as_fd(), Some(POLL)).map_err(fail)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut buf = vec![0u8; MAX_RECORD];
        while Instant::now() < deadline {
            match recv_with_fds(control.as_fd(), &mut buf) {
                Ok(r) if r.len > 0 => {
                    return match Record::decode(buf.get(..r.len).unwrap_or_default()) {
                        Ok(Record::Ready { pid })
                            if Some(pid) == self.0.as_ref().map(Child::id) =>
                        {
                            Ok(pid)
                        }
                        Ok(Record::Failed { errors }) => {
                            self.reap();
                            Err(fail(format!("the new process refused to start:\n{errors}")))
                        }
                        other => Err(fail(format!("the new process answered {other:?}"))),
                    };
                }
                Ok(_) => return Err(fail(self.reap())),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if let Some(Ok(Some(status))) = self.0.as_mut().map(Child::try_wait) {
                        self.0 = None;
                        return Err(fail(format!(
                            "the new process exited ({status}) before it was ready"
                        )));
                    }
                }
                Err(e) => return Err(fail(format!("waiting for the new process: {e}"))),
            }
        }
        Err(fail(format!(
            "the new process did not report ready within {} s",
            READY_TIMEOUT.as_secs()
        )))
    }

    /// Waits (bounded) for the child to exit, kills it past that; says how
    /// it ended.
    fn reap(&mut self) -> String {
        let Some(mut c) = self.0.take() else {
            return "the new process is gone".into();
        };
        let until = Instant::now() + REAP;
        while Instant::now() < until {
            if let Ok(Some(status)) = c.try_wait() {
                return format!("the new process exited ({status}) before it was ready");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        "the new process closed the channel and was killed".into()
    }

    /// Ready: the child runs on; a thread reaps it should it exit while
    /// this process still drains (no zombie).
    fn detach(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = std::thread::Builder::new()
                .name("successor".into())
                .spawn(move || c.wait());
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
