//! The writer thread's side: where buffers go, and what happens when that fails.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics::Counter;
use shardgate_config::AccessLogPath;

use super::bounds::Msg;

/// A failing output (closed pipe, full disk) fails every write: one log line
/// per this interval says so without flooding the process log.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

pub(super) enum Output {
    Stdout,
    File {
        path: PathBuf,
        file: File,
    },
    /// Any writer (tests); never reopened.
    Writer(Box<dyn Write + Send>),
}

impl Output {
    pub(super) fn open(path: &AccessLogPath) -> io::Result<Output> {
        Ok(match path {
            AccessLogPath::Stdout => Output::Stdout,
            AccessLogPath::File(path) => Output::File {
                file: append(path)?,
                path: path.clone(),
            },
        })
    }

    /// One buffer, one `write_all`: the lines of a buffer reach the output
    /// together (stdout is locked, so a process log line cannot land inside).
    fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(buf)?;
                out.flush()
            }
            Output::File { file, .. } => file.write_all(buf),
            Output::Writer(w) => {
                w.write_all(buf)?;
                w.flush()
            }
        }
    }

    /// A file is opened again at its path (after logrotate renamed it).
    fn reopen(&mut self) -> io::Result<()> {
        if let Output::File { path, file } = self {
            *file = append(path)?;
        }
        Ok(())
    }
}

fn append(path: &std::path::Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// Requests from the control thread, applied by the writer before its next write.
#[derive(Default)]
pub(super) struct Pending {
    pub output: Option<Output>,
    pub reopen: bool,
}

/// State the control thread (`Sink`) and the writer share. The mutex is only
/// taken by those two, never by a shard.
#[derive(Default)]
pub(super) struct Control {
    /// Set when `pending` holds something: the writer checks this atomic before
    /// each write and takes the lock only when it is set.
    pub changed: AtomicBool,
    pub pending: Mutex<Pending>,
    pub write_errors: AtomicU64,
}

impl Control {
    pub(super) fn request(&self, f: impl FnOnce(&mut Pending)) {
        f(&mut self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.store(true, Ordering::Release);
    }
}

pub(super) struct Writer {
    pub out: Output,
    pub control: Arc<Control>,
    pub errors: Counter,
    /// A reopen that failed is tried again before each write.
    pub reopen_failed: bool,
    pub last_report: Option<Instant>,
    pub unreported: u64,
}

impl Writer {
    /// Until `Close` (or every sender is gone): write each buffer, send it back
    /// cleared. A shard that went away just lets its buffer drop.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(Msg::Full(mut buf, back)) = rx.recv() {
            self.apply();
            if let Err(e) = self.out.write(&buf) {
                self.failed("write", &e);
            }
            buf.clear();
            let _ = back.try_send(buf);
        }
    }

    fn apply(&mut self) {
        let mut reopen = std::mem::take(&mut self.reopen_failed);
        if self.control.changed.swap(false, Ordering::Acquire) {
            let pending = std::mem::take(
                &mut *self
                    .control
                    .pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            if let Some(out) = pending.output {
                self.out = out;
            }
            reopen |= pending.reopen;
        }
        if reopen {
            if let Err(e) = self.out.reopen() {
                // Keep writing to the old file (renamed, but still ours) and try
                // again next time: lines are not lost while the path is broken.
                self.reopen_failed = true;
                self.failed("reopen", &e);
            }
        }
    }

    fn failed(&mut self, what: &str, e: &io::Error) {
        self.control.write_errors.fetch_add(1, Ordering::Relaxed);
        self.errors.increment(1);
        let now = Instant::now();
        if self
            .last_report
            .is_some_and(|t| now.duration_since(t) < ERROR_LOG_INTERVAL)
        {
            self.unreported += 1;
            return;
        }
        tracing::warn!(
            error = %e,
            failures_since_last_report = self.unreported,
            "access log {what} failed; the lines of a failed write are lost"
        );
        self.last_report = Some(now);
        self.unreported = 0;
    }
}
