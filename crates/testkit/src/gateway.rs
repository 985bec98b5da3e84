//! The real server, started in-process from a TOML template.
//!
//! Templates use `127.0.0.1:0` for listeners (any free port; [`Gateway::addr`]
//! tells which) and `${NAME}` placeholders for what only the test knows, such
//! as an origin's address. TOML's own `{ … }` inline tables stay as they are,
//! which is why placeholders are not `format!` arguments.

use std::fmt::Display;
use std::net::SocketAddr;

use shardgate_config::Config;
use shardgate_server::{ActiveDriver, Server, ShardStats};

use crate::driver::Driver;
use crate::error::{Error, Result};

pub struct GatewayBuilder {
    toml: String,
    vars: Vec<(String, String)>,
    driver: Option<Driver>,
    shards: usize,
}

impl GatewayBuilder {
    /// Replaces `${name}` with `value` in the template.
    pub fn var(mut self, name: &str, value: impl Display) -> Self {
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// The driver every shard must run (default: what the TOML says).
    pub fn driver(mut self, d: Driver) -> Self {
        self.driver = Some(d);
        self
    }

    /// Shard count. Defaults to 1 whatever the TOML says, which makes
    /// connection and balancing counts exact; 0 = one per core.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// The validated config the gateway would run.
    pub fn config(&self) -> Result<Config> {
        let mut cfg = parse(&self.toml, &self.vars)?;
        cfg.server.shards = self.shards;
        if let Some(d) = self.driver {
            cfg.server.driver = d.config();
        }
        Ok(cfg)
    }

    pub fn start(self) -> Result<Gateway> {
        let config = self.config()?;
        let server = Server::start(config)?;
        if let Some(d) = self.driver {
            if let Some(other) = server.drivers().iter().find(|a| **a != d.active()) {
                return Err(Error::DriverMismatch {
                    wanted: d.to_string(),
                    got: other.to_string(),
                });
            }
        }
        Ok(Gateway {
            server,
            vars: self.vars,
            driver: self.driver,
            shards: self.shards,
        })
    }
}

/// Starts from a config file, as the binary does: `/config` shows the file,
/// and `POST /reload` (or [`Server::reload_running_file`]) reads it again.
/// The file sets the shard count and driver itself; `driver`, when given,
/// is checked against what the shards run.
pub fn start_file(path: &std::path::Path, driver: Option<Driver>) -> Result<Gateway> {
    let server = Server::start_file(path)?;
    if let Some(d) = driver {
        if let Some(other) = server.drivers().iter().find(|a| **a != d.active()) {
            return Err(Error::DriverMismatch {
                wanted: d.to_string(),
                got: other.to_string(),
            });
        }
    }
    let shards = server.drivers().len();
    Ok(Gateway {
        server,
        vars: Vec::new(),
        driver,
        shards,
    })
}

pub struct Gateway {
    server: Server,
    vars: Vec<(String, String)>,
    driver: Option<Driver>,
    shards: usize,
}

impl Gateway {
    pub fn builder(toml: &str) -> GatewayBuilder {
        GatewayBuilder {
            toml: toml.to_string(),
            vars: Vec::new(),
            driver: None,
            shards: 1,
        }
    }

    /// The bound address of a listener.
    pub fn try_addr(&self, listener: &str) -> Result<SocketAddr> {
        self.server
            .listener_addr(listener)
            .ok_or_else(|| Error::NoListener(listener.to_string()))
    }

    /// The bound address of a listener; panics on a name the config lacks
    /// (a mistake in the test, not in the gateway).
    pub fn addr(&self, listener: &str) -> SocketAddr {
        match self.try_addr(listener) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        }
    }

    /// `http://ADDR{path}` for a listener, for curl and wrk.
    pub fn url(&self, listener: &str, path: &str) -> String {
        format!("http://{}{path}", self.addr(listener))
    }

    pub fn admin(&self) -> Option<SocketAddr> {
        self.server.admin_addr()
    }

    pub fn drivers(&self) -> Vec<ActiveDriver> {
        self.server.drivers().to_vec()
    }

    /// Per-shard connection counters (accepted, active, table-full events).
    pub fn shard_stats(&self) -> Vec<ShardStats> {
        self.server.shard_stats()
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Publishes a new config from a template (same placeholders as at start;
    /// the driver and shard count the gateway was started with are kept).
    pub fn reload(&self, toml: &str) -> Result<u64> {
        let mut cfg = parse(toml, &self.vars)?;
        cfg.server.shards = self.shards;
        if let Some(d) = self.driver {
            cfg.server.driver = d.config();
        }
        Ok(self.server.reload(cfg)?)
    }

    /// Starts a graceful stop without waiting for it.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// Waits for the shard threads to finish.
    pub fn join(&mut self) {
        self.server.join();
    }

    /// Graceful stop: shutdown, then wait until every shard has drained.
    pub fn stop(&mut self) {
        self.shutdown();
        self.join();
    }
}

/// Substitutes placeholders and validates.
pub fn parse(toml: &str, vars: &[(String, String)]) -> Result<Config> {
    let text = substitute(toml, vars)?;
    Ok(shardgate_config::parse(&text, "<test>")?)
}

pub fn substitute(toml: &str, vars: &[(String, String)]) -> Result<String> {
    let mut text = toml.to_string();
    for (name, value) in vars {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    if let Some(start) = text.find("${") {
        let rest = text.get(start + 2..).unwrap_or_default();
        let name = rest.split('}').next().unwrap_or_default();
        return Err(Error::Unbound(name.to_string()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_and_missing_ones_reported() {
        let vars = vec![("UP".to_string(), "127.0.0.1:9".to_string())];
        assert_eq!(
            substitute("servers = [\"${UP}\"]", &vars).unwrap(),
            "servers = [\"127.0.0.1:9\"]"
        );
        match substitute("a = \"${NOPE}\"", &vars) {
            Err(Error::Unbound(n)) => assert_eq!(n, "NOPE"),
            other => panic!("{other:?}"),
        }
    }
}
