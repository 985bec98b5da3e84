//! `POST /reload` and `POST /drain`.
//!
//! `/reload` runs what SIGHUP runs (`Control::reload_running_file`): the
//! file is read and validated again, reloads are one at a time, and a
//! refused one changes nothing (the running generation keeps serving,
//! `shardgate_config_reload_failures_total` rises). 200 with the new
//! generation; 422 with every diagnostic (`file`, `line`, `col`, `key`,
//! `message`) for a file that is not a valid config; 409 for a valid config
//! the running server cannot take (a change that needs a restart, a name
//! that does not resolve, no config file); 500 when the file cannot be read.
//!
//! `/drain` starts the graceful stop a SIGTERM starts: listeners close,
//! `/ready` says 503, requests in flight finish up to `shutdown_grace`, then
//! the process exits. 202 every time (a repeated call changes nothing).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::reply::Reply;
use crate::control::Control;
use crate::Error;

static REFUSED_LOG: LogLimit = LogLimit(Mutex::new(None));

/// Once per second at most (control threads only, so a mutex is fine).
struct LogLimit(Mutex<Option<Instant>>);

impl LogLimit {
    fn allow(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

pub fn reload(control: &Control) -> Reply {
    let before = control.shared.snapshot.load().generation;
    match control.reload_running_file() {
        Ok(generation) => {
            tracing::info!(generation, "config reloaded (admin POST /reload)");
            Reply::json(
                200,
                &json!({ "reloaded": true, "generation": generation, "previous": before }),
            )
        }
        Err(e) => {
            // Whoever reaches the admin listener can POST a broken file's
            // reload in a loop: at most one log line per second; the answer
            // and `shardgate_config_reload_failures_total` carry every one.
            if REFUSED_LOG.allow() {
                tracing::error!(
                    "reload refused (admin POST /reload), keeping the running config \
                     (logged at most once a second):\n{e}"
                );
            }
            let generation = control.shared.snapshot.load().generation;
            let (status, errors) = describe(&e);
            Reply::json(
                status,
                &json!({
                    "reloaded": false,
                    "generation": generation,
                    "error": e.to_string(),
                    "errors": errors,
                }),
            )
        }
    }
}

/// The status for a refused reload, and its errors as objects.
fn describe(e: &Error) -> (u16, Vec<Value>) {
    match e {
        Error::Config(shardgate_config::Error::Invalid(diagnostics)) => (
            422,
            diagnostics
                .iter()
                .map(|d| {
                    json!({
                        "file": d.file,
                        "line": d.line,
                        "col": d.col,
                        "key": d.key,
                        "message": d.message,
                    })
                })
                .collect(),
        ),
        Error::Config(shardgate_config::Error::Io { .. }) | Error::Thread(_) => {
            (500, vec![json!({ "message": e.to_string() })])
        }
        _ => (409, vec![json!({ "message": e.to_string() })]),
    }
}

pub fn drain(control: &Control) -> Reply {
    let started = control.stop();
    if started {
        tracing::info!("graceful stop (admin POST /drain)");
    }
    let grace = control
        .shared
        .snapshot
        .load()
        .config
        .server
        .timeouts
        .shutdown_grace;
    Reply::json(
        202,
        &json!({
            "draining": true,
            "started_now": started,
            "shutdown_grace_ms": u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        }),
    )
}
