//! A real `redis-server` (the Debian package) for the cluster-wide rate
//! limit tests: on a free loopback port, in memory only (`--save ""
//! --appendonly no`), killed when dropped. [`RedisServer::kill`] and
//! [`RedisServer::restart`] play an outage; `redis-cli` reads its keys.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl RedisServer {
    /// Starts one and waits (10 s at most) until it answers `PING`.
    pub fn start() -> Result<RedisServer> {
        let addr = crate::closed_addr()?;
        let server = RedisServer {
            child: spawn(addr.port())?,
            addr,
        };
        server.wait_up()?;
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills it, as a crash would: its data is gone and its port refuses.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A new, empty server on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.child = spawn(self.addr.port())?;
        self.wait_up()
    }

    /// Runs `redis-cli ARGS…` against it; its output.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.addr.port().to_string()])
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(tool(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The keys matching `pattern` (`SCAN`, so a test never blocks it).
    pub fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let out = self.cli(&["--scan", "--pattern", pattern])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    fn wait_up(&self) -> Result<()> {
        let up = crate::wait_until(Duration::from_secs(10), || {
            self.cli(&["PING"]).is_ok_and(|o| o.trim() == "PONG")
        });
        if up {
            Ok(())
        } else {
            Err(tool("no PONG within 10 s".into()))
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16) -> Result<Child> {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| tool(format!("{e} (the Debian package redis-server)")))
}

fn tool(message: String) -> Error {
    Error::Tool {
        tool: "redis-server".into(),
        message,
    }
}
