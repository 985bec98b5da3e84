//! Small socket helpers for tests.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use crate::error::Result;

/// A loopback address nothing listens on: bound, then released. Another test
/// could bind the same port in between, but the kernel hands out ephemeral
/// ports round-robin, so that takes tens of thousands of binds.
pub fn closed_addr() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let a = l.local_addr()?;
    drop(l);
    Ok(a)
}

/// A free loopback port for configs that cannot use port 0 (a listener that
/// an upstream in the same file points at).
pub fn free_port() -> Result<u16> {
    Ok(closed_addr()?.port())
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; returns
/// whether it held. For waiting on a state change, never as an assertion
/// that something did *not* happen.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a TCP connect to `addr` is refused (nothing listening).
pub fn refuses(addr: SocketAddr) -> bool {
    matches!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// Each listening socket's accept-queue bound on `port`, as `ss` reports it
/// (the Send-Q column of a LISTEN row): one entry per socket of a
/// `SO_REUSEPORT` group.
pub fn listen_backlogs(port: u16) -> Result<Vec<u32>> {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect())
}
