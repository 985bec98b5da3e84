//! One active probe of one server: a TCP connect, or an HTTP/1.1 `GET` whose
//! status line is read, all within the check's timeout. Plain TCP: a probe
//! says whether the server answers, not whether TLS to it works.

use std::net::SocketAddr;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use shardgate_config::{HealthCheckConfig, HealthCheckKind};

/// Enough for any status line; a server that sends more before its first
/// line break is not speaking HTTP.
const MAX_STATUS_LINE: usize = 1024;
const USER_AGENT: &str = "shardgate-health-check";

/// Whether `addr` passes `check` now. Every failure (refused, timed out,
/// closed early, garbage, a status outside `expect_status`) is a failed
/// probe; which one is only worth a debug line.
pub async fn probe(addr: SocketAddr, check: &HealthCheckConfig) -> bool {
    let outcome = monoio::time::timeout(check.timeout, attempt(addr, check)).await;
    let result = outcome.unwrap_or(Err("timed out"));
    if let Err(why) = result {
        tracing::debug!(server = %addr, why, "health probe failed");
    }
    result.is_ok()
}

async fn attempt(addr: SocketAddr, check: &HealthCheckConfig) -> Result<(), &'static str> {
    let mut stream = TcpStream::connect_addr(addr)
        .await
        .map_err(|_| "connect failed")?;
    if check.kind == HealthCheckKind::Tcp {
        return Ok(());
    }
    let _ = stream.set_nodelay(true);
    let (res, _) = stream.write_all(request(addr, check)).await;
    res.map_err(|_| "write failed")?;
    let mut head = Vec::with_capacity(MAX_STATUS_LINE);
    loop {
        if let Some(line) = first_line(&head) {
            let status = status_of(line).ok_or("not an HTTP/1.x status line")?;
            return if check.expect_status.contains(status) {
                Ok(())
            } else {
                Err("unexpected status")
            };
        }
        if head.len() >= MAX_STATUS_LINE {
            return Err("status line too long");
        }
        let room = vec![0u8; MAX_STATUS_LINE - head.len()];
        let (res, got) = stream.read(room).await;
        match res {
            Ok(0) => return Err("closed before a status line"),
            Ok(n) => head.extend_from_slice(got.get(..n).unwrap_or_default()),
            Err(_) => return Err("read failed"),
        }
    }
}

/// The probe's request: the configured path and `Host` (else the server's
/// address), closed after the answer so no connection lingers.
pub fn request(addr: SocketAddr, check: &HealthCheckConfig) -> Vec<u8> {
    let host = check.host.clone().unwrap_or_else(|| addr.to_string());
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.path
    )
    .into_bytes()
}

/// The bytes before the first `\n` (without a trailing `\r`), once one came.
fn first_line(head: &[u8]) -> Option<&[u8]> {
    let end = head.iter().position(|&b| b == b'\n')?;
    let line = head.get(..end)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// The status of `HTTP/1.x NNN[ reason]`.
fn status_of(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (minor, rest) = rest.split_first()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&b| b != b' ') {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// `interval` spread by ± `jitter` of itself, with `r` uniform in [0, 1).
pub fn jittered(interval: Duration, jitter: f64, r: f64) -> Duration {
    let factor = 1.0 + jitter * (2.0 * r - 1.0);
    Duration::try_from_secs_f64(interval.as_secs_f64() * factor).unwrap_or(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status_of(b"HTTP/1.0 503"), Some(503));
        assert_eq!(status_of(b"HTTP/1.1 204 "), Some(204));
        for bad in [
            &b"HTTP/2 200 OK"[..],
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000",
            b"HTTP/1.1  200",
            b"SPDY/3 200",
            b"HTTP/1.x 200",
            b"",
        ] {
            assert_eq!(status_of(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            first_line(b"HTTP/1.1 200 OK\r\nx: y"),
            Some(&b"HTTP/1.1 200 OK"[..])
        );
        assert_eq!(first_line(b"HTTP/1.1 200 OK"), None);
    }

    #[test]
    fn request_has_path_host_and_closes() {
        let mut check = HealthCheckConfig {
            kind: HealthCheckKind::Http,
            path: "/healthz?deep=1".into(),
            ..HealthCheckConfig::default()
        };
        let addr: SocketAddr = "[::1]:8080".parse().unwrap();
        let text = String::from_utf8(request(addr, &check)).unwrap();
        assert!(
            text.starts_with("GET /healthz?deep=1 HTTP/1.1\r\nHost: [::1]:8080\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.contains("\r\nUser-Agent: shardgate-health-check\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        check.host = Some("app.internal".into());
        let text = String::from_utf8(request(addr, &check)).unwrap();
        assert!(text.contains("\r\nHost: app.internal\r\n"), "{text}");
    }

    #[test]
    fn jitter_spreads_both_ways_within_the_share() {
        let i = Duration::from_secs(10);
        assert_eq!(jittered(i, 0.0, 0.7), i);
        assert_eq!(jittered(i, 0.2, 0.0), Duration::from_secs(8));
        assert_eq!(jittered(i, 0.2, 0.5), i);
        assert!(jittered(i, 0.2, 0.999_999) <= Duration::from_secs(12));
        assert!(jittered(i, 0.5, 0.999) > Duration::from_secs(14));
    }
}
