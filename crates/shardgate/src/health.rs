//! `shardgate health`: the container's HEALTHCHECK (the scratch image has no
//! shell and no curl). GETs the admin `/ready` and exits 0 on 200, 1
//! otherwise, with one line saying why. The whole probe is bounded by
//! [`TIMEOUT`].
//!
//! Without `--url` the admin address comes from the config file's
//! `[admin] address`, read from the TOML alone: a file being edited (or
//! invalid) must not make a healthy gateway look unhealthy, so the rest of
//! the file is not validated here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use shardgate_config::AdminConfig;

pub const TIMEOUT: Duration = Duration::from_secs(2);
/// A `/ready` answer is a few hundred bytes, a refused `/reload` a few
/// kilobytes; more is not ours.
const MAX_RESPONSE: usize = 64 * 1024;

/// Ok(message) when ready, Err(why) otherwise.
pub fn probe(url: Option<&str>, config: &Path) -> anyhow::Result<String> {
    let (host, addr, path) = match url {
        Some(u) => parse_url(u, "/ready")?,
        None => {
            let addr = admin_address(config)?;
            (addr.to_string(), addr, "/ready".to_string())
        }
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: shardgate-health\r\nConnection: close\r\n\r\n");
    let (status, body) = exchange(addr, &request, TIMEOUT)?;
    let body = body.trim();
    if status == 200 {
        Ok(format!("ready ({addr}{path})"))
    } else {
        bail!("not ready: {status} from {addr}{path}: {body}")
    }
}

/// Sends `request` (with `Connection: close`) to the admin listener and
/// reads the answer to its end: (status, body). The whole exchange, connect
/// included, is bounded by `timeout`; a connect failure says "cannot
/// connect" (callers and tests tell an absent listener by it).
pub fn exchange(
    addr: SocketAddr,
    request: &str,
    timeout: Duration,
) -> anyhow::Result<(u16, String)> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to the admin listener at {addr}"))?;
    stream.set_write_timeout(Some(left(deadline, timeout)?))?;
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream.set_read_timeout(Some(left(deadline, timeout)?))?;
        let n = stream
            .read(&mut buf)
            .with_context(|| format!("no answer from {addr} within {timeout:?}"))?;
        if n == 0 || response.len() >= MAX_RESPONSE {
            break;
        }
        response.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&response);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("{addr} did not answer with HTTP"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

fn left(deadline: Instant, timeout: Duration) -> anyhow::Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        bail!("no answer within {timeout:?}");
    }
    Ok(d)
}

/// `http://HOST:PORT[/path]` (`default_path` without one). Plain HTTP
/// only: the admin listener has no TLS.
pub fn parse_url(url: &str, default_path: &str) -> anyhow::Result<(String, SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url {url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
        None => (rest, default_path),
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("--url {url:?}: host:port expected"))?
        .next()
        .ok_or_else(|| anyhow!("--url {url:?}: {authority} resolves to no address"))?;
    Ok((authority.to_string(), addr, path.to_string()))
}

/// `[admin] address` from the file (its default when the key is absent),
/// with an unspecified address (`0.0.0.0`) probed on loopback.
fn admin_address(config: &Path) -> anyhow::Result<SocketAddr> {
    let doc = read_toml(config)?;
    let admin = doc
        .get("admin")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| anyhow!("{} has no [admin] section: pass --url", config.display()))?;
    address_of(admin, config)
}

/// The config file as a TOML table, not validated (see the module docs).
pub fn read_toml(config: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not TOML", config.display()))
}

/// The address to reach the `[admin]` table's listener at.
pub fn address_of(admin: &toml::Table, config: &Path) -> anyhow::Result<SocketAddr> {
    let mut addr = match admin.get("address") {
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse::<SocketAddr>().ok())
            .ok_or_else(|| anyhow!("{}: admin.address is not an address", config.display()))?,
        None => AdminConfig::DEFAULT_ADDRESS,
    };
    if addr.ip().is_unspecified() {
        let loopback = match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        addr.set_ip(loopback);
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_host_port_and_an_optional_path() {
        let (host, addr, path) = parse_url("http://127.0.0.1:9901", "/ready").unwrap();
        assert_eq!((host.as_str(), path.as_str()), ("127.0.0.1:9901", "/ready"));
        assert_eq!(addr, "127.0.0.1:9901".parse().unwrap());
        let (_, _, path) = parse_url("http://127.0.0.1:1/healthz", "/ready").unwrap();
        assert_eq!(path, "/healthz");
        assert!(parse_url("https://127.0.0.1:1/", "/ready").is_err());
        assert!(parse_url("http://nope", "/ready").is_err());
    }
}
