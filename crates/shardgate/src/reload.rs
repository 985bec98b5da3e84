//! `shardgate reload`: `POST /reload` to the admin listener, or `SIGHUP`
//! when the config has no `[admin]` section.
//!
//! Exit codes: 0 applied (prints the new generation) or the signal was
//! sent; 1 refused (prints every error, one per line, as `shardgate check`
//! does) or no way to reach the process; 2 the admin listener cannot be
//! reached within [`TIMEOUT`].
//!
//! Like `health`, the file is read as TOML only (`[admin] address` and
//! `token_file`, `[server] pid_file`): the file being reloaded may be
//! invalid, and saying where is the running server's job.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde_json::Value;

use crate::health;

/// For the whole exchange: a reload re-reads certificates and may resolve
/// host names, so it takes longer than a `/ready`.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn command(url: Option<&str>, config: &Path) -> ExitCode {
    match run(url, config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("shardgate reload: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(url: Option<&str>, config: &Path) -> anyhow::Result<ExitCode> {
    // With --url the file only supplies the token: a missing one is no error.
    let doc = match (health::read_toml(config), url) {
        (Ok(doc), _) => doc,
        (Err(_), Some(_)) if !config.exists() => toml::Table::new(),
        (Err(e), _) => return Err(e),
    };
    let dir = config.parent().unwrap_or(Path::new("."));
    let admin = doc.get("admin").and_then(toml::Value::as_table);
    let token = match admin.and_then(|a| a.get("token_file")) {
        Some(v) => Some(read_token(v, dir, config)?),
        None => None,
    };
    let (host, addr, path) = match (url, admin) {
        (Some(u), _) => health::parse_url(u, "/reload")?,
        (None, Some(a)) => {
            let addr = health::address_of(a, config)?;
            (addr.to_string(), addr, "/reload".to_string())
        }
        (None, None) => return by_signal(&doc, dir, config),
    };
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: shardgate-reload\r\n{auth}\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = match health::exchange(addr, &request, TIMEOUT) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("shardgate reload: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    Ok(outcome(status, &body))
}

/// Prints what the answer says and picks the exit code.
fn outcome(status: u16, body: &str) -> ExitCode {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let Some(json) = json.filter(|j| j.get("reloaded").is_some()) else {
        eprintln!(
            "shardgate reload: {status} from the admin listener: {}",
            body.trim()
        );
        return ExitCode::from(1);
    };
    let generation = json.get("generation").and_then(Value::as_u64).unwrap_or(0);
    if json.get("reloaded").and_then(Value::as_bool) == Some(true) {
        let previous = json.get("previous").and_then(Value::as_u64).unwrap_or(0);
        println!("reloaded: generation {generation} (was {previous})");
        return ExitCode::SUCCESS;
    }
    eprintln!("shardgate reload: refused ({status}); generation {generation} keeps serving:");
    let errors = json.get("errors").and_then(Value::as_array);
    for e in errors.into_iter().flatten() {
        eprintln!("{}", error_line(e));
    }
    ExitCode::from(1)
}

/// `FILE:LINE:COL: key: message` as the config crate prints a diagnostic,
/// or the message alone for an error without a place.
fn error_line(e: &Value) -> String {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
    let n = |k: &str| e.get(k).and_then(Value::as_u64);
    let mut line = String::new();
    if let (Some(l), Some(c)) = (n("line"), n("col")) {
        line.push_str(&format!("{}:{l}:{c}: ", s("file")));
    }
    if !s("key").is_empty() {
        line.push_str(&format!("{}: ", s("key")));
    }
    line.push_str(s("message"));
    line
}

/// The token the server reads from the same file (trimmed).
fn read_token(v: &toml::Value, dir: &Path, config: &Path) -> anyhow::Result<String> {
    let file = resolve(v, dir)
        .ok_or_else(|| anyhow!("{}: admin.token_file is not a path", config.display()))?;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read admin.token_file {}", file.display()))?;
    Ok(text.trim().to_string())
}

fn resolve(v: &toml::Value, dir: &Path) -> Option<PathBuf> {
    v.as_str().filter(|s| !s.is_empty()).map(|s| dir.join(s))
}

/// No admin listener: SIGHUP to the PID in `[server] pid_file`. The
/// outcome is only in the process's logs (and its reload metrics).
fn by_signal(doc: &toml::Table, dir: &Path, config: &Path) -> anyhow::Result<ExitCode> {
    let pid_file = doc
        .get("server")
        .and_then(|s| s.get("pid_file"))
        .and_then(|v| resolve(v, dir))
        .ok_or_else(|| {
            anyhow!(
                "{} has neither an [admin] section nor server.pid_file: pass --url",
                config.display()
            )
        })?;
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            anyhow!(
                "no PID in {}: is shardgate running with this config?",
                pid_file.display()
            )
        })?;
    shardgate_net::signal_reload(pid).with_context(|| format!("signalling PID {pid}"))?;
    println!("sent SIGHUP to PID {pid}: the outcome is in its logs (no [admin] listener to ask)");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_as_check_prints_them() {
        let located: Value = serde_json::json!({
            "file": "gw.toml", "line": 7, "col": 9, "key": "server.timeouts.idle",
            "message": "a duration needs a unit"
        });
        assert_eq!(
            error_line(&located),
            "gw.toml:7:9: server.timeouts.idle: a duration needs a unit"
        );
        let bare: Value = serde_json::json!({ "message": "shards needs a restart" });
        assert_eq!(error_line(&bare), "shards needs a restart");
    }
}
