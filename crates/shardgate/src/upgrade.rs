//! `SIGUSR2` and `shardgate upgrade` (ADR 19): which binary the upgrade
//! runs, the PID file and the outcome file next to it, and how long a
//! retired process lingers.
//!
//! The outcome file (`<pid_file>.upgrade`) is written by the old process,
//! atomically, after every attempt: `OLDPID:N ok NEWPID`, or `OLDPID:N
//! failed` followed by the errors. The new process writes the PID file
//! before it reports ready, so when the outcome says ok the PID file
//! already names the new process.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shardgate_server::Server;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How often a retired process looks whether its connections are done.
const RETIRE_POLL: Duration = Duration::from_millis(50);

/// The binary to run at an upgrade, captured at start: the absolute path
/// this process was started from (while that file is still in place), run
/// again with the same arguments. Whatever file is at that path at the time
/// of the upgrade runs: install the new binary by renaming it over the old.
pub struct Binary {
    pub exe: PathBuf,
    pub args: Vec<OsString>,
}

impl Binary {
    pub fn capture() -> Binary {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
        Binary {
            exe,
            args: std::env::args_os().skip(1).collect(),
        }
    }
}

pub fn outcome_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".upgrade");
    PathBuf::from(p)
}

/// Writes `text` to `path` through a temporary file and a rename, so a
/// reader never sees half of it.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

pub fn write_pid(pid_file: Option<&Path>) {
    if let Some(p) = pid_file {
        if let Err(e) = write_atomic(p, &format!("{}\n", std::process::id())) {
            tracing::error!(path = %p.display(), error = %e, "could not write the PID file");
        }
    }
}

/// At a normal stop: the PID file goes, unless a successor owns it now.
pub fn remove_pid(pid_file: Option<&Path>) {
    if let Some(p) = pid_file {
        let ours =
            std::fs::read_to_string(p).is_ok_and(|t| t.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs one upgrade (the `attempt`-th of this process) and records its
/// outcome; true when this process has handed over and must retire.
pub fn on_signal(server: &Server, bin: &Binary, pid_file: Option<&Path>, attempt: u32) -> bool {
    tracing::info!(binary = %bin.exe.display(), "upgrade requested");
    let result = server.upgrade(&bin.exe, &bin.args);
    let me = std::process::id();
    let text = match &result {
        Ok(pid) => format!("{me}:{attempt} ok {pid}\n"),
        Err(e) => {
            // A child that wrote its PID and then failed must not keep it.
            write_pid(pid_file);
            format!("{me}:{attempt} failed\n{e}\n")
        }
    };
    if let Some(p) = pid_file {
        if let Err(e) = write_atomic(&outcome_path(p), &text) {
            tracing::error!(error = %e, "could not write the upgrade outcome file");
        }
    }
    result.is_ok()
}

/// A retired process serves what it has until it is idle or
/// `shutdown_grace` passes (then the normal stop closes the rest);
/// `SIGTERM`/`SIGINT` stop it at once.
pub fn linger(server: &Server, signals: &mut Signals) {
    let until = Instant::now() + server.shutdown_grace();
    while !server.retired_idle() && Instant::now() < until {
        if signals.pending().any(|s| s == SIGTERM || s == SIGINT) {
            return;
        }
        std::thread::sleep(RETIRE_POLL);
    }
}

/// `shardgate upgrade`: signals the process named in `pid_file` and waits
/// for the outcome it records.
pub fn command(pid_file: &Path, timeout: Duration) -> ExitCode {
    let pid = match std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    {
        Some(p) => p,
        None => {
            eprintln!(
                "shardgate upgrade: no PID in {}: is shardgate running with server.pid_file set?",
                pid_file.display()
            );
            return ExitCode::from(1);
        }
    };
    let outcome = outcome_path(pid_file);
    let before = std::fs::read_to_string(&outcome).ok();
    if let Err(e) = shardgate_net::signal_upgrade(pid) {
        eprintln!("shardgate upgrade: signalling PID {pid}: {e}");
        return ExitCode::from(1);
    }
    let prefix = format!("{pid}:");
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        let now = std::fs::read_to_string(&outcome).ok();
        if let Some(text) = now.filter(|t| Some(t) != before.as_ref() && t.starts_with(&prefix)) {
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            if let Some(new) = first.split_once(" ok ").map(|(_, p)| p.trim()) {
                println!("upgraded: PID {pid} hands over to PID {new}");
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "shardgate upgrade: refused; PID {pid} keeps serving:\n{}",
                rest.trim_end()
            );
            return ExitCode::from(1);
        }
        if !shardgate_net::process_alive(pid) {
            eprintln!("shardgate upgrade: PID {pid} exited without recording an outcome");
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "shardgate upgrade: no outcome from PID {pid} within {} s",
        timeout.as_secs()
    );
    ExitCode::from(1)
}
