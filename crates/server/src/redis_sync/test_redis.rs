//! A throwaway `redis-server` for the unit tests (testkit's `RedisServer`
//! serves the end-to-end tests; this crate cannot depend on testkit).

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    pub address: SocketAddr,
}

impl RedisServer {
    /// Starts one on a free port, in memory only, and waits until it answers.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let server = RedisServer {
            child: spawn(port),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        server.wait_up();
        server
    }

    /// Kills it (as a crash would: its data is gone).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A new, empty one on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.address.port());
        self.wait_up();
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.con().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn con(&self) -> redis::RedisResult<redis::Connection> {
        let mut con = redis::Client::open(format!("redis://{}", self.address))?.get_connection()?;
        redis::cmd("PING").query::<String>(&mut con)?;
        Ok(con)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (the Debian package) is installed")
}
