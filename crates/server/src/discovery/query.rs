//! Asking configured nameservers directly (`[resolver] nameservers`): one
//! UDP exchange per question, TCP when the answer was truncated, each
//! nameserver in turn until one answers. Runs on the resolver thread or
//! the control thread (blocking sockets), never on a shard.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use shardgate_config::ResolverConfig;

use super::answer::Answer;
use super::dns::{self, Rcode, Reply, TYPE_A, TYPE_AAAA};

/// Rounds over the nameserver list before giving up on a question.
const ROUNDS: usize = 2;
/// The largest answer read (UDP datagram or TCP message).
const MAX_MESSAGE: usize = 65_535;

/// The A and AAAA records of `host`. Both questions must be answered
/// (an empty answer is an answer): a half answer is not applied.
pub fn lookup(cfg: &ResolverConfig, host: &str) -> Result<Answer, String> {
    let a = ask(cfg, host, TYPE_A)?;
    let aaaa = ask(cfg, host, TYPE_AAAA)?;
    let ttl = match (a.ttl, aaaa.ttl) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let mut addrs = a.addrs;
    addrs.extend(aaaa.addrs);
    Ok(Answer {
        addrs,
        ttl: ttl.map(|s| Duration::from_secs(u64::from(s))),
    })
}

fn ask(cfg: &ResolverConfig, host: &str, qtype: u16) -> Result<Reply, String> {
    let mut last = String::from("no nameserver configured");
    for _ in 0..ROUNDS {
        for ns in &cfg.nameservers {
            match exchange(*ns, host, qtype, cfg.timeout) {
                Ok(r) if r.rcode == Rcode::NoError => return Ok(r),
                Ok(r) if r.rcode == Rcode::NxDomain => {
                    return Err(format!("no such name (NXDOMAIN from {ns})"))
                }
                Ok(r) => last = format!("{ns} answered {}", rcode_name(r.rcode)),
                Err(e) => last = format!("{ns}: {e}"),
            }
        }
    }
    Err(last)
}

fn rcode_name(r: Rcode) -> String {
    match r {
        Rcode::NoError => "NOERROR".into(),
        Rcode::NxDomain => "NXDOMAIN".into(),
        Rcode::Other(2) => "SERVFAIL".into(),
        Rcode::Other(5) => "REFUSED".into(),
        Rcode::Other(n) => format!("rcode {n}"),
    }
}

fn exchange(ns: SocketAddr, host: &str, qtype: u16, timeout: Duration) -> Result<Reply, String> {
    let id = getrandom::u32().map_err(|e| e.to_string())? as u16;
    let q = dns::query(id, host, qtype);
    let reply = udp(ns, &q, id, host, qtype, timeout)?;
    if reply.truncated {
        return tcp(ns, &q, id, host, qtype, timeout);
    }
    Ok(reply)
}

/// One datagram out, the first matching datagram back (others — late
/// answers to earlier questions, forgeries with the wrong id — are
/// skipped until the deadline).
fn udp(
    ns: SocketAddr,
    q: &[u8],
    id: u16,
    host: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<Reply, String> {
    let local: SocketAddr = match ns {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    sock.connect(ns).map_err(|e| e.to_string())?;
    sock.send(q).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer within {timeout:?}"));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                if let Ok(r) = dns::parse(buf.get(..n).unwrap_or_default(), host, qtype) {
                    if r.id == id {
                        return Ok(r);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer within {timeout:?}"))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The same question over TCP (2-byte length prefix, RFC 1035 §4.2.2).
fn tcp(
    ns: SocketAddr,
    q: &[u8],
    id: u16,
    host: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<Reply, String> {
    let err = |e: std::io::Error| format!("over TCP: {e}");
    let mut s = TcpStream::connect_timeout(&ns, timeout).map_err(err)?;
    s.set_read_timeout(Some(timeout)).map_err(err)?;
    s.set_write_timeout(Some(timeout)).map_err(err)?;
    let len = u16::try_from(q.len()).map_err(|_| "query too long".to_string())?;
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(q);
    s.write_all(&msg).map_err(err)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(err)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).map_err(err)?;
    let r = dns::parse(&buf, host, qtype).map_err(|e| format!("over TCP: {e}"))?;
    if r.id != id {
        return Err("over TCP: answer with another id".into());
    }
    Ok(r)
}
