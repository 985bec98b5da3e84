//! The start-up self-test of a steered UDP group.
//!
//! The steering program returns an *index* into the reuseport group, and the
//! group's order is the kernel's, not ours: when a member closes, the kernel
//! moves the last socket into the hole, and sockets of another process of
//! the same user (a previous gateway still draining) join the group on
//! `bind()`. Either way the program keeps running and datagrams silently reach
//! the wrong shard, whose endpoint knows nothing of their connection. So
//! before serving, each shard's socket must prove it receives its own
//! connection IDs.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use crate::{Error, MAX_QUIC_SHARDS, MAX_SHARD_OFFSET};

/// First byte of a short-header packet: header form 0, fixed bit 1.
const SHORT_HEADER: u8 = 0x40;
/// Server connection IDs are 8 bytes; the shard byte lies inside them.
const DCID_LEN: usize = 8;
const MAGIC_LEN: usize = 16;
const MAGIC_AT: usize = 1 + DCID_LEN;
const INDEX_AT: usize = MAGIC_AT + MAGIC_LEN;
const PROBE_LEN: usize = INDEX_AT + 1;

/// Rounds of probes, each waiting this long: about 1 s in all. Loopback does
/// not lose datagrams unless a receive queue is full, so a retry is cheap
/// insurance, not the expected path.
const ROUNDS: u32 = 4;
const ROUND_WAIT: Duration = Duration::from_millis(250);
const POLL_PAUSE: Duration = Duration::from_millis(1);

/// Sends, for each shard `i`, a probe whose connection ID names shard `i` to
/// the group's address, and checks that `sockets[i]` receives probe `i` and
/// no other probe. Run it on the sockets [`crate::bind_udp_group`] returned
/// with the same `shard_offset`, before any endpoint reads them.
///
/// A probe looks like a QUIC short-header packet (first byte 0x40, 8-byte
/// DCID with `i` at `shard_offset`) followed by a random 16-byte token of this
/// call and `i`, so it cannot be confused with a client's packet or with a
/// probe of an earlier call. Non-probe datagrams read meanwhile are dropped:
/// a client packet arriving during start-up is lost and the client
/// retransmits it. A late duplicate probe (from a retried round) may still
/// reach an endpoint, which discards it as a packet of an unknown connection.
///
/// Probes go to 127.0.0.1 / `[::1]` for an unspecified group address, else
/// to the address itself, from a fresh unconnected socket. A group bound
/// without steering fails this test unless it has one member. The sockets
/// are (re)set to non-blocking, as `bind_udp_group` returns them.
pub fn verify_udp_steering(sockets: &[UdpSocket], shard_offset: u8) -> Result<(), Error> {
    let shards = sockets.len();
    let Some(first) = sockets.first() else {
        return Err(Error::InvalidShards(0));
    };
    if shards > MAX_QUIC_SHARDS || shard_offset > MAX_SHARD_OFFSET {
        return Err(Error::InvalidQuicSteering {
            shards,
            shard_offset,
        });
    }
    let group = first.local_addr().map_err(|source| Error::Sys {
        op: "getsockname",
        source,
    })?;
    for sock in sockets {
        sock.set_nonblocking(true).map_err(|source| Error::Socket {
            op: "fcntl(O_NONBLOCK)",
            addr: group,
            source,
        })?;
    }
    let dest = probe_destination(group);
    let sender = UdpSocket::bind(SocketAddr::new(unspecified(dest.ip()), 0)).map_err(|source| {
        Error::Socket {
            op: "bind (probe sender)",
            addr: group,
            source,
        }
    })?;
    let magic = magic();
    let mut received = vec![false; shards];
    let started = Instant::now();
    for _ in 0..ROUNDS {
        for (i, _) in received.iter().enumerate().filter(|(_, got)| !**got) {
            let probe = probe(i, shard_offset, &magic);
            sender
                .send_to(&probe, dest)
                .map_err(|source| Error::Socket {
                    op: "sendto (steering probe)",
                    addr: dest,
                    source,
                })?;
        }
        let deadline = Instant::now() + ROUND_WAIT;
        loop {
            for (reached, sock) in sockets.iter().enumerate() {
                for expected in drain_probes(sock, group, &magic)? {
                    if expected != reached {
                        return Err(Error::SteeringMismatch {
                            addr: group,
                            expected,
                            reached,
                        });
                    }
                    received[expected] = true;
                }
            }
            if received.iter().all(|&got| got) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL_PAUSE);
        }
    }
    let expected = received.iter().position(|&got| !got).unwrap_or(0);
    Err(Error::SteeringProbeLost {
        addr: group,
        expected,
        waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Reads everything queued on `sock`; returns the shard indices of this
/// call's probes among it (other datagrams are dropped, see above).
fn drain_probes(
    sock: &UdpSocket,
    group: SocketAddr,
    magic: &[u8; MAGIC_LEN],
) -> Result<Vec<usize>, Error> {
    // Larger datagrams are truncated to the buffer, which is fine: they are
    // not probes (a probe's length is exact).
    let mut buf = [0u8; 2 * PROBE_LEN];
    let mut probes = Vec::new();
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => probes.extend(probe_index(buf.get(..n).unwrap_or(&[]), magic)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(probes),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Socket {
                    op: "recv (steering probe)",
                    addr: group,
                    source,
                })
            }
        }
    }
}

fn probe(shard: usize, shard_offset: u8, magic: &[u8; MAGIC_LEN]) -> [u8; PROBE_LEN] {
    // The caller keeps shard < MAX_QUIC_SHARDS (256), so this never saturates.
    let index = u8::try_from(shard).unwrap_or(u8::MAX);
    let mut p = [0u8; PROBE_LEN];
    p[0] = SHORT_HEADER;
    // shard_offset <= MAX_SHARD_OFFSET (checked by the caller) keeps the
    // shard byte inside the 8-byte DCID.
    if let Some(b) = p.get_mut(1 + usize::from(shard_offset)) {
        *b = index;
    }
    p[MAGIC_AT..INDEX_AT].copy_from_slice(magic);
    p[INDEX_AT] = index;
    p
}

fn probe_index(datagram: &[u8], magic: &[u8; MAGIC_LEN]) -> Option<usize> {
    if datagram.len() != PROBE_LEN
        || datagram[0] != SHORT_HEADER
        || datagram[MAGIC_AT..INDEX_AT] != magic[..]
    {
        return None;
    }
    Some(usize::from(datagram[INDEX_AT]))
}

fn probe_destination(group: SocketAddr) -> SocketAddr {
    let ip = match group.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, group.port())
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// 16 unpredictable bytes without a random-number crate: std's `RandomState`
/// keys come from the OS's random source, and two hashers with different
/// inputs give two independent 8-byte halves.
fn magic() -> [u8; MAGIC_LEN] {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = [0u8; MAGIC_LEN];
    for (half, chunk) in out.chunks_mut(8).enumerate() {
        let h = RandomState::new().hash_one((half, nanos));
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quic_owner;

    #[test]
    fn probe_is_a_short_header_packet_owned_by_its_shard() {
        let magic = magic();
        for off in 0..=MAX_SHARD_OFFSET {
            for shard in [0usize, 1, 5, 255] {
                let p = probe(shard, off, &magic);
                assert_eq!(p[0] & 0xc0, 0x40, "short header with fixed bit");
                assert_eq!(quic_owner(&p, 256, off), shard);
                assert_eq!(probe_index(&p, &magic), Some(shard));
            }
        }
    }

    #[test]
    fn foreign_datagrams_are_not_probes() {
        let magic = magic();
        let other = magic.map(|b| b ^ 1);
        let p = probe(3, 0, &magic);
        assert_eq!(probe_index(&p, &other), None, "earlier call's probe");
        assert_eq!(probe_index(&p[..PROBE_LEN - 1], &magic), None);
        let mut long = p.to_vec();
        long.push(0);
        assert_eq!(probe_index(&long, &magic), None);
        let mut not_short = p;
        not_short[0] = 0xc0;
        assert_eq!(probe_index(&not_short, &magic), None);
        assert_eq!(probe_index(&[], &magic), None);
    }

    #[test]
    fn magic_differs_between_calls() {
        assert_ne!(magic(), magic());
        assert_ne!(magic()[..8], magic()[8..]);
    }

    #[test]
    fn probes_go_to_loopback_for_unspecified_groups() {
        let cases = [
            ("0.0.0.0:4433", "127.0.0.1:4433"),
            ("[::]:4433", "[::1]:4433"),
            ("10.1.2.3:443", "10.1.2.3:443"),
            ("[2001:db8::1]:443", "[2001:db8::1]:443"),
        ];
        for (group, dest) in cases {
            assert_eq!(
                probe_destination(group.parse().unwrap()),
                dest.parse().unwrap()
            );
        }
    }
}
