//! The external programs tests drive: `curl` (what users do) and `wrk` (load).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct CurlOutput {
    /// `%{http_code}`: 0 when no response arrived.
    pub status: u16,
    pub body: Vec<u8>,
    /// curl's stderr (with `-v`, the exchanged heads).
    pub stderr: String,
    pub success: bool,
}

impl CurlOutput {
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs `curl -sS --max-time 10 ARGS…` and splits the status code off stdout.
pub fn curl(args: &[&str]) -> Result<CurlOutput> {
    const MARK: &[u8] = b"\n@@status@@";
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n@@status@@%{http_code}"])
        .args(args)
        .output()
        .map_err(|e| tool("curl", e))?;
    let stdout = out.stdout;
    let at = stdout
        .windows(MARK.len())
        .rposition(|w| w == MARK)
        .ok_or_else(|| tool("curl", "no status marker in output"))?;
    let status = String::from_utf8_lossy(stdout.get(at + MARK.len()..).unwrap_or_default())
        .trim()
        .parse()
        .unwrap_or(0);
    Ok(CurlOutput {
        status,
        body: stdout.get(..at).unwrap_or_default().to_vec(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    })
}

/// What a wrk run reports.
#[derive(Debug, Clone, Default)]
pub struct WrkReport {
    pub requests: u64,
    /// "Non-2xx or 3xx responses" (0 when wrk printed no such line).
    pub non_2xx_3xx: u64,
    /// connect, read, write, timeout.
    pub socket_errors: [u64; 4],
    pub output: String,
}

/// `wrk -t THREADS -c CONNS -d SECSs URL`.
pub fn wrk(url: &str, secs: u32, conns: u32, threads: u32) -> Result<WrkReport> {
    wrk_with_timeout(url, secs, conns, threads, None)
}

/// [`wrk`] with `--timeout`: a request unanswered for that long counts as a
/// timeout error (wrk's own default is 2 s, which a loaded 2-core machine
/// can exceed with nothing wrong in the gateway).
pub fn wrk_with_timeout(
    url: &str,
    secs: u32,
    conns: u32,
    threads: u32,
    timeout: Option<std::time::Duration>,
) -> Result<WrkReport> {
    let mut cmd = Command::new("wrk");
    if let Some(t) = timeout {
        cmd.args(["--timeout", &format!("{}s", t.as_secs().max(1))]);
    }
    let out = cmd
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &conns.to_string(),
            "-d",
            &format!("{secs}s"),
            url,
        ])
        .output()
        .map_err(|e| tool("wrk", e))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(tool(
            "wrk",
            format!("{}{}", text, String::from_utf8_lossy(&out.stderr)),
        ));
    }
    parse_wrk(&text)
}

/// The summary of `wrk`'s output (for runs with a script, started by the caller).
pub fn parse_wrk(text: &str) -> Result<WrkReport> {
    let mut r = WrkReport {
        output: text.to_string(),
        ..WrkReport::default()
    };
    let mut saw_total = false;
    for line in text.lines().map(str::trim) {
        if line.contains(" requests in ") {
            r.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| tool("wrk", format!("bad total line {line:?}")))?;
            saw_total = true;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx_3xx = rest.trim().parse().unwrap_or(u64::MAX);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for (i, part) in rest.split(',').enumerate().take(4) {
                let n = part.split_whitespace().nth(1).and_then(|n| n.parse().ok());
                if let Some(slot) = r.socket_errors.get_mut(i) {
                    *slot = n.unwrap_or(u64::MAX);
                }
            }
        }
    }
    if !saw_total {
        return Err(tool("wrk", format!("no summary in output:\n{text}")));
    }
    Ok(r)
}

fn tool(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Tool {
        tool: name.to_string(),
        message: e.to_string(),
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "shardgate-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf> {
        let p = self.0.join(name);
        std::fs::write(&p, contents)?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_summary_is_parsed() {
        let text = "Running 1s test @ http://127.0.0.1:1/\n  2 threads and 20 connections\n  \
            1234 requests in 1.00s, 100.00KB read\n  Socket errors: connect 1, read 2, write 3, timeout 4\n  \
            Non-2xx or 3xx responses: 7\nRequests/sec:   1234.00\n";
        let r = parse_wrk(text).unwrap();
        assert_eq!(r.requests, 1234);
        assert_eq!(r.non_2xx_3xx, 7);
        assert_eq!(r.socket_errors, [1, 2, 3, 4]);
        assert!(parse_wrk("garbage").is_err());
    }
}
