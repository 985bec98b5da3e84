//! Application logs: a bounded, lossy queue to a writer thread (a shard never
//! waits for the output), to stderr or stdout, text or JSON, colour only on a
//! terminal, and a rate limit on what the TLS library says about each client.
//!
//! stdout is for containers, whose runtime collects stdout (the issue's "logs
//! to stdout"). The access log with `path = "stdout"` shares it: both write
//! through `std::io::stdout()`, whose lock is held for a whole line (here) or
//! a whole buffer of lines (the access log), so lines never interleave.
//!
//! rustls writes through the `log` crate, not `tracing`. Its warnings describe
//! a client, not the server (`Illegal SNI extension: ignoring IP address
//! presented as hostname` for every client that sends an IP literal as SNI), so
//! one benchmark wrote 24k such lines. [`Bridge`] sits in front of
//! tracing-log's bridge: every rustls warning (and info/debug) is counted in
//! `shardgate_tls_library_warnings_total` and at most one line per
//! [`TLS_LIBRARY_LOG_EVERY`] reaches the log, saying how many were held back.
//! This is done on the `log` side rather than as a `tracing` layer because a
//! layer can neither rewrite an event's message nor reliably emit a new event
//! while one is being dispatched.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::Counter;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_log::{AsLog, LogTracer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where application logs go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogTarget {
    /// The default outside containers: stdout stays free for the access log.
    Stderr,
    /// One stream for everything (what container runtimes collect).
    Stdout,
}

/// Lines queued for the writer thread. A full queue drops lines instead of
/// blocking the shard that logs: a stalled stderr must not stall traffic.
const BUFFERED_LINES: usize = 16_384;

pub const TLS_LIBRARY_LOG_EVERY: Duration = Duration::from_secs(10);
const TLS_LIBRARY_METRIC: &str = "shardgate_tls_library_warnings_total";

/// Installs the subscriber and the `log` bridge. The returned guard flushes the
/// queue when dropped: keep it alive until the process exits.
pub fn init(filter: &str, format: LogFormat, target: LogTarget) -> WorkerGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("log-writer");
    let (terminal, (writer, guard)) = match target {
        LogTarget::Stderr => (
            std::io::stderr().is_terminal(),
            builder.finish(std::io::stderr()),
        ),
        LogTarget::Stdout => (
            std::io::stdout().is_terminal(),
            builder.finish(std::io::stdout()),
        ),
    };
    let (text, json) = match format {
        LogFormat::Text => (
            Some(
                fmt::layer()
                    .with_target(false)
                    // Escape codes are noise in a file or a log collector.
                    .with_ansi(colour(terminal, std::env::var_os("NO_COLOR").as_deref()))
                    .with_writer(writer),
            ),
            None,
        ),
        LogFormat::Json => (None, Some(fmt::layer().json().with_writer(writer))),
    };
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json);
    // Not `SubscriberInitExt::init`: that installs tracing-log's bridge itself,
    // and ours must be the `log` logger.
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        eprintln!("shardgate: logging not set up: {e}");
    }
    // rustls warnings are always counted, whatever the filter shows.
    let level = tracing::level_filters::LevelFilter::current()
        .as_log()
        .max(log::LevelFilter::Warn);
    let bridge = Bridge {
        inner: LogTracer::new(),
        origin: Instant::now(),
    };
    match log::set_boxed_logger(Box::new(bridge)) {
        Ok(()) => log::set_max_level(level),
        Err(e) => eprintln!("shardgate: rustls logs not bridged: {e}"),
    }
    guard
}

/// Registers the rustls warning counter with the metrics recorder, which the
/// server installs when it starts; call right after it has.
pub fn count_tls_library_events() {
    metrics::describe_counter!(
        TLS_LIBRARY_METRIC,
        "Warnings (and info/debug events) from the TLS library, mostly about a client's handshake; \
         at most one line per 10 s is logged"
    );
    TLS_LIBRARY.attach(metrics::counter!(TLS_LIBRARY_METRIC));
}

static TLS_LIBRARY: TlsLibrary = TlsLibrary {
    limiter: RateLimiter::new(TLS_LIBRARY_LOG_EVERY),
    early: AtomicU64::new(0),
    counter: OnceLock::new(),
};

/// Counted with atomics and a handle registered once: rustls logs from shard
/// threads, which must not take the registry's lock per event.
struct TlsLibrary {
    limiter: RateLimiter,
    /// Events before the recorder existed (a handshake can complete between a
    /// shard starting and [`count_tls_library_events`]).
    early: AtomicU64,
    counter: OnceLock<Counter>,
}

impl TlsLibrary {
    fn count(&self) {
        match self.counter.get() {
            Some(c) => c.increment(1),
            None => {
                self.early.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// An event racing this call can still land in `early` after the swap
    /// and go uncounted; one lost count at start-up is not worth a lock.
    fn attach(&self, counter: Counter) {
        counter.increment(self.early.swap(0, Ordering::Relaxed));
        let _ = self.counter.set(counter);
    }
}

/// The process's `log` logger: rustls records are counted and rate-limited,
/// everything (what passes) goes on to tracing-log's bridge.
struct Bridge {
    inner: LogTracer,
    origin: Instant,
}

fn is_tls_library(m: &log::Metadata<'_>) -> bool {
    (log::Level::Warn..=log::Level::Debug).contains(&m.level()) && m.target().starts_with("rustls")
}

impl log::Log for Bridge {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        is_tls_library(m) || self.inner.enabled(m)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !is_tls_library(record.metadata()) {
            return self.inner.log(record);
        }
        TLS_LIBRARY.count();
        match TLS_LIBRARY.limiter.check(self.origin.elapsed()) {
            None => {}
            Some(0) => self.inner.log(record),
            Some(n) => self.inner.log(
                &log::Record::builder()
                    .metadata(record.metadata().clone())
                    .args(format_args!(
                        "{} ({n} more TLS library messages not logged since the last one; \
                         all are counted in {TLS_LIBRARY_METRIC})",
                        record.args()
                    ))
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Lets one event through per window and counts the rest. Lock-free: it is
/// called on shard threads.
pub struct RateLimiter {
    every_ms: u64,
    /// Milliseconds since the caller's origin, plus one, of the last event let
    /// through; 0 = none yet.
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimiter {
    pub const fn new(every: Duration) -> Self {
        RateLimiter {
            // Windows are seconds long; the cast cannot truncate in practice.
            every_ms: every.as_millis() as u64,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `now` is the time since a fixed origin of the caller's. `Some(n)`: log
    /// this event, `n` were held back since the previous one; `None`: hold it.
    pub fn check(&self, now: Duration) -> Option<u64> {
        let now = u64::try_from(now.as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        let last = self.last.load(Ordering::Acquire);
        if (last == 0 || now.saturating_sub(last) >= self.every_ms)
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::AcqRel);
        None
    }
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything
/// non-empty (no-color.org): `with_ansi(true)` would override it.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(super::colour(true, None));
        assert!(super::colour(true, Some(OsStr::new(""))));
        assert!(!super::colour(true, Some(OsStr::new("1"))));
        assert!(!super::colour(false, None));
    }

    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn one_event_per_window_goes_through_with_the_count_held_back() {
        let l = RateLimiter::new(10 * S);
        assert_eq!(l.check(Duration::ZERO), Some(0), "the first one is logged");
        for i in 1..=5 {
            assert_eq!(l.check(i * S), None);
        }
        assert_eq!(l.check(9 * S + Duration::from_millis(999)), None);
        assert_eq!(l.check(10 * S), Some(6), "one per window, with the count");
        assert_eq!(l.check(11 * S), None);
        // A quiet spell: the next one goes through at once.
        assert_eq!(l.check(100 * S), Some(1));
        assert_eq!(l.check(111 * S), Some(0));
    }

    #[test]
    fn concurrent_callers_let_exactly_one_through_and_lose_no_count() {
        let l = RateLimiter::new(10 * S);
        let passed: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).filter(|_| l.check(S).is_some()).count() as u64))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 1);
        assert_eq!(l.check(11 * S), Some(3999));
    }

    #[test]
    fn only_rustls_warnings_and_below_are_limited() {
        let meta = |level, target| log::Metadata::builder().level(level).target(target).build();
        assert!(is_tls_library(&meta(
            log::Level::Warn,
            "rustls::server::hs"
        )));
        assert!(is_tls_library(&meta(log::Level::Debug, "rustls::conn")));
        assert!(!is_tls_library(&meta(log::Level::Error, "rustls::conn")));
        assert!(!is_tls_library(&meta(log::Level::Trace, "rustls::conn")));
        assert!(!is_tls_library(&meta(log::Level::Warn, "shardgate_server")));
    }
}
