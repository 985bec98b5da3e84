//! Finding (and if needed building) the `shardgate` binary for tests that run
//! it as users do. Cargo only tells a package's own tests where its binaries
//! are, so the path is derived from where the test executable itself lives:
//! `<target>/<profile>/deps/<test>` → `<target>/<profile>/shardgate`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

/// The workspace root (where `config/shardgate.toml` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The path of an up-to-date `shardgate` binary. `SHARDGATE_BIN` overrides
/// the search. Otherwise `cargo build -p shardgate` runs once per test
/// process, in the same target dir and profile as the tests (a no-op when the
/// binary is current), so a test never runs a stale binary.
pub fn shardgate_binary() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("SHARDGATE_BIN") {
        Some(p) => Ok(PathBuf::from(p)),
        None => locate("shardgate", "shardgate").map_err(|e| e.to_string()),
    })
    .clone()
    .map_err(|message| Error::Tool {
        tool: "cargo build -p shardgate".into(),
        message,
    })
}

/// The benches' HTTP/3 load generator (`benches/h3load`), built like the
/// gateway: a quinn + rustls client, unlike aioquic able to send a
/// post-quantum (multi-datagram) ClientHello.
pub fn h3load_binary() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate("shardgate-h3load", "h3load").map_err(|e| e.to_string()))
        .clone()
        .map_err(|message| Error::Tool {
            tool: "cargo build -p shardgate-h3load".into(),
            message,
        })
}

/// Builds `package` for the profile the tests run under and returns its
/// binary `bin`.
fn locate(package: &str, bin_name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| tool(format!("unexpected test executable path {}", exe.display())))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| tool(format!("no target dir above {}", profile_dir.display())))?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("-p")
        .arg(package)
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.arg("--profile").arg(other);
        }
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(tool(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let bin = profile_dir.join(bin_name);
    if !bin.is_file() {
        return Err(tool(format!("built, but {} is missing", bin.display())));
    }
    Ok(bin)
}

fn tool(message: String) -> Error {
    Error::Tool {
        tool: "locating shardgate".into(),
        message,
    }
}

/// A `Command` for the binary, started in the workspace root (so relative
/// config paths work as in the docs) with logging kept quiet.
pub fn shardgate_command() -> Result<Command> {
    let mut c = Command::new(shardgate_binary()?);
    c.current_dir(workspace_root()).env("SHARDGATE_LOG", "warn");
    Ok(c)
}

/// A running `shardgate`; killed if the test fails before it stopped it.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Running {
    /// Runs `shardgate run --config CONFIG EXTRA…` and waits (10 s at most)
    /// until its admin listener on `admin` answers `/ready` with 200. The
    /// process's stdout and stderr go to `output/stdout` and `output/stderr`,
    /// or nowhere when `output` is None.
    pub fn start(
        config: &Path,
        admin: u16,
        extra: &[&str],
        output: Option<&Path>,
    ) -> Result<Running> {
        let (out, err) = match output {
            Some(dir) => (
                Stdio::from(std::fs::File::create(dir.join("stdout"))?),
                Stdio::from(std::fs::File::create(dir.join("stderr"))?),
            ),
            None => (Stdio::null(), Stdio::null()),
        };
        let child = shardgate_command()?
            .args(["run", "--config"])
            .arg(config)
            .args(extra)
            .stdout(out)
            .stderr(err)
            .spawn()?;
        let running = Running(child);
        let ready = format!("http://127.0.0.1:{admin}/ready");
        let up = crate::wait_until(Duration::from_secs(10), || {
            crate::tools::curl(&[&ready]).is_ok_and(|o| o.status == 200)
        });
        if up {
            Ok(running)
        } else {
            Err(Error::Tool {
                tool: "shardgate".into(),
                message: "admin /ready never said 200".into(),
            })
        }
    }

    /// Sends a signal by name (`HUP`, `TERM` …) with `kill`.
    pub fn signal(&self, sig: &str) -> Result<()> {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.0.id().to_string()])
            .status()?
            .success();
        if ok {
            Ok(())
        } else {
            Err(Error::Tool {
                tool: "kill".into(),
                message: format!("kill -{sig} failed"),
            })
        }
    }
}
