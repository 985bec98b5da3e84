//! [`Sink`]: the process-wide end of the access log, owning the writer thread.

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::counter;
use shardgate_config::AccessLogPath;

use super::bounds::{Msg, BUFFERS_PER_SHARD};
use super::output::{Control, Output, Writer};
use super::shard_log::ShardLog;

/// The writer thread and the handles to steer it. `Send + Sync`: the server
/// keeps it where every shard and the control thread can reach it. Its locks
/// are taken only by the control thread (reload, `SIGUSR1`, stop) and the
/// writer thread; shards reach the sink through their `ShardLog`'s channels
/// and never lock.
pub struct Sink {
    tx: SyncSender<Msg>,
    control: Arc<Control>,
    /// What `set_target` last switched to (`None` for a custom writer).
    target: Mutex<Option<AccessLogPath>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sink {
    /// Opens `path` (a file for appending, created if missing) and starts the
    /// writer thread. `shards` sizes the writer's queue to hold every buffer of
    /// every shard.
    pub fn open(path: &AccessLogPath, shards: usize) -> io::Result<Sink> {
        Self::start(Output::open(path)?, Some(path.clone()), shards)
    }

    /// A sink writing to any writer (tests, embedding programs). `reopen` and
    /// `set_target` work as for a path.
    pub fn with_writer(writer: Box<dyn Write + Send>, shards: usize) -> io::Result<Sink> {
        Self::start(Output::Writer(writer), None, shards)
    }

    fn start(out: Output, target: Option<AccessLogPath>, shards: usize) -> io::Result<Sink> {
        let (tx, rx) = sync_channel(shards.max(1) * BUFFERS_PER_SHARD);
        let control = Arc::new(Control::default());
        let writer = Writer {
            out,
            control: control.clone(),
            errors: counter!("shardgate_access_log_write_errors_total"),
            reopen_failed: false,
            last_report: None,
            unreported: 0,
        };
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run(rx))?;
        Ok(Sink {
            tx,
            control,
            target: Mutex::new(target),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The log of one shard, to be owned by that shard. Its dropped-lines
    /// counter is registered here, once.
    pub fn shard_log(&self, shard: usize) -> ShardLog {
        ShardLog::new(shard, self.tx.clone())
    }

    /// The writer opens the file at its path again before its next write
    /// (`SIGUSR1` after logrotate renamed it). Nothing happens for stdout.
    pub fn reopen(&self) {
        self.control.request(|p| p.reopen = true);
    }

    /// Switches to another output (a reload changed `path`); the writer takes
    /// it before its next write. The file is opened here, so a reload can be
    /// refused when it cannot be. Same path as now: nothing happens.
    pub fn set_target(&self, path: &AccessLogPath) -> io::Result<()> {
        let mut target = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        if target.as_ref() == Some(path) {
            return Ok(());
        }
        let out = Output::open(path)?;
        self.control.request(|p| p.output = Some(out));
        *target = Some(path.clone());
        Ok(())
    }

    /// Failed writes (and reopens) so far; the same count as
    /// `shardgate_access_log_write_errors_total`.
    pub fn write_errors(&self) -> u64 {
        self.control.write_errors.load(Ordering::Relaxed)
    }

    /// Writes everything queued so far and ends the writer thread; later
    /// buffers are dropped (and counted by their shards). Waits for the output
    /// at most [`CLOSE_WAIT`]: an output stuck for good (a pipe nobody reads)
    /// must not hold up a graceful stop, so the writer is then left behind and
    /// what it still holds is lost with the process. Call it after the shards
    /// have flushed. Idempotent.
    pub fn close(&self) {
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(thread) = thread else {
            return;
        };
        let deadline = Instant::now() + CLOSE_WAIT;
        let mut close = Msg::Close;
        loop {
            match self.tx.try_send(close) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    close = m;
                    std::thread::sleep(CLOSE_POLL);
                }
                Err(TrySendError::Full(_)) => return self.abandon(),
            }
        }
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return self.abandon();
            }
            std::thread::sleep(CLOSE_POLL);
        }
        let _ = thread.join();
    }

    fn abandon(&self) {
        tracing::warn!(
            "access log output stuck for {CLOSE_WAIT:?} at shutdown; lines still queued are lost"
        );
    }
}

/// How long a stop waits for the access log's output (see [`Sink::close`]).
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);
const CLOSE_POLL: Duration = Duration::from_millis(5);

impl Drop for Sink {
    fn drop(&mut self) {
        self.close();
    }
}
