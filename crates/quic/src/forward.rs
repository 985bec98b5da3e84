//! Datagrams of the previous process's connections (binary upgrade, ADR 19).
//!
//! After a hand-over the new process is the only reader of the UDP
//! sockets. A datagram whose destination connection ID carries the old
//! process's generation belongs to a connection the old process still
//! serves: the new process sends it, framed by [`encode`], over a Unix
//! datagram socket to the old one, whose forwarding thread checks the frame
//! ([`decode`]) and puts it into the owner shard's inbox of the listener's
//! [`crate::RedirectHub`]; the old endpoint answers from its copy of the
//! same UDP socket. The bound of this queue is the sending socket's buffer:
//! a full buffer (or a gone old process) drops the datagram, counted.
//!
//! Frame: `0x5f 0x01`, listener id (u32 LE, the old process's), owner shard
//! (u16 LE), ECN (0 none, 1 ECT0, 2 ECT1, 3 CE), client address (family 4 or
//! 6, address, port u16 LE), local address the datagram was sent to (family
//! 0 none, 4 or 6, address), then the datagram.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use metrics::Counter;
use quinn::udp::EcnCodepoint;

use crate::redirect::{RedirectHub, Redirected, Sent};

const MAGIC: [u8; 2] = [0x5f, 0x01];
/// The longest header [`encode`] writes.
pub const MAX_HEADER: usize = 2 + 4 + 2 + 1 + 1 + 16 + 2 + 1 + 16;
/// The longest frame: a header and the largest UDP payload.
pub const MAX_FRAME: usize = MAX_HEADER + 65_535;

/// Whether `d` (one datagram) is addressed to a connection ID of
/// `generation`: short-header packets and long-header Handshake packets
/// only. Initial and 0-RTT packets carry a destination ID the client chose
/// (its top bits are random), so they stay with the new process.
pub fn of_generation(d: &[u8], generation: u8) -> bool {
    let Some(&first) = d.first() else {
        return false;
    };
    let cid_first = if first & 0x80 == 0 {
        d.get(1)
    } else if (first & 0x30) >> 4 == 2 && d.get(1..5) != Some(&[0, 0, 0, 0]) {
        // Handshake (version 0 would be version negotiation): DCID length
        // at byte 5, the DCID from byte 6.
        d.get(5).filter(|&&l| l > 0).and_then(|_| d.get(6))
    } else {
        None
    };
    cid_first.is_some_and(|b| b >> 5 == generation)
}

/// The new process's side: where old-generation datagrams of one listener go.
pub struct Predecessor {
    pub generation: u8,
    /// The listener's id in the old process.
    pub listener: u32,
    /// Emptied (and so closed) when the old process has exited: its
    /// datagrams then go to the new endpoint, which answers unknown IDs
    /// with a stateless reset.
    pub sink: Arc<ArcSwapOption<UnixDatagram>>,
    /// False once `sink` is empty: one relaxed load per datagram instead of
    /// an `ArcSwap` load.
    pub alive: Arc<AtomicBool>,
    pub forwarded: Counter,
    pub dropped: Counter,
}

impl Predecessor {
    pub(crate) fn owns(&self, d: &[u8]) -> bool {
        self.alive.load(Ordering::Relaxed) && of_generation(d, self.generation)
    }

    /// Sends one datagram to the old process (never blocks).
    pub(crate) fn forward(&self, shard: usize, r: &Redirected) {
        let mut frame = Vec::with_capacity(MAX_HEADER + r.data.len());
        let sink = self.sink.load();
        let sent = match sink.as_deref() {
            Some(sink) if encode(self.listener, shard, r, &mut frame) => sink.send(&frame).is_ok(),
            _ => false,
        };
        if sent {
            self.forwarded.increment(1);
        } else {
            self.dropped.increment(1);
        }
    }
}

fn put_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.push(6);
            out.extend_from_slice(&a.octets());
        }
    }
}

/// Frames `r` for the old process; false when it cannot be framed (a shard
/// index past u16, a datagram longer than UDP allows).
pub(crate) fn encode(listener: u32, shard: usize, r: &Redirected, out: &mut Vec<u8>) -> bool {
    let Ok(shard) = u16::try_from(shard) else {
        return false;
    };
    if r.data.len() > 65_535 {
        return false;
    }
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&listener.to_le_bytes());
    out.extend_from_slice(&shard.to_le_bytes());
    out.push(match r.ecn {
        None => 0,
        Some(EcnCodepoint::Ect0) => 1,
        Some(EcnCodepoint::Ect1) => 2,
        Some(EcnCodepoint::Ce) => 3,
    });
    put_ip(out, r.addr.ip());
    out.extend_from_slice(&r.addr.port().to_le_bytes());
    match r.dst_ip {
        Some(ip) => put_ip(out, ip),
        None => out.push(0),
    }
    out.extend_from_slice(&r.data);
    true
}

/// One checked frame: the listener (old process's id), the owner shard and
/// the datagram with its addresses.
pub struct Frame {
    pub listener: u32,
    pub shard: usize,
    pub(crate) datagram: Redirected,
}

impl Frame {
    /// Queues the datagram for its owner shard in `hub` (the old process's
    /// listener); false when that inbox is full (dropped).
    pub fn deliver(self, hub: &RedirectHub) -> bool {
        hub.send(self.shard, self.datagram) == Sent::Queued
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn ip(&mut self, family: u8) -> Option<Option<IpAddr>> {
        Some(match family {
            0 => None,
            4 => Some(IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(self.take(4)?).ok()?,
            ))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(self.take(16)?).ok()?,
            ))),
            _ => return None,
        })
    }
}

/// Checks and unpacks a frame; `None` for anything malformed (counted as
/// dropped by the caller). `shards`: the old process's shard count.
pub fn decode(frame: &[u8], shards: usize) -> Option<Frame> {
    let mut r = Reader(frame);
    if r.take(2)? != MAGIC {
        return None;
    }
    let listener = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
    let shard = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
    if shard >= shards {
        return None;
    }
    let ecn = match r.byte()? {
        0 => None,
        1 => Some(EcnCodepoint::Ect0),
        2 => Some(EcnCodepoint::Ect1),
        3 => Some(EcnCodepoint::Ce),
        _ => return None,
    };
    let family = r.byte()?;
    let ip = r.ip(family)??;
    let port = u16::from_le_bytes(r.take(2)?.try_into().ok()?);
    let family = r.byte()?;
    let dst_ip = r.ip(family)?;
    if r.0.is_empty() || r.0.len() > 65_535 {
        return None;
    }
    Some(Frame {
        listener,
        shard,
        datagram: Redirected {
            data: r.0.to_vec(),
            addr: SocketAddr::new(ip, port),
            ecn,
            dst_ip,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_read_from_short_and_handshake_packets_only() {
        // Short header, DCID first byte gen 2.
        assert!(of_generation(&[0x40, 2 << 5, 1, 2], 2));
        assert!(!of_generation(&[0x40, 3 << 5, 1, 2], 2));
        // Handshake (type 2), version 1, DCID len 8, first byte gen 2.
        let hs = [0xe0, 0, 0, 0, 1, 8, 2 << 5, 0, 0];
        assert!(of_generation(&hs, 2));
        // Initial (type 0) and 0-RTT (type 1) with the same DCID: not ours to judge.
        assert!(!of_generation(&[0xc0, 0, 0, 0, 1, 8, 2 << 5, 0], 2));
        assert!(!of_generation(&[0xd0, 0, 0, 0, 1, 8, 2 << 5, 0], 2));
        // Version negotiation, truncated and empty datagrams.
        assert!(!of_generation(&[0xe0, 0, 0, 0, 0, 8, 2 << 5], 2));
        assert!(!of_generation(&[0xe0, 0, 0, 0, 1, 0], 2));
        assert!(!of_generation(&[0x40], 2));
        assert!(!of_generation(&[], 2));
    }

    #[test]
    fn frames_round_trip_and_malformed_ones_are_refused() {
        let d = Redirected {
            data: vec![0x40, 1, 2, 3],
            addr: "[::1]:4433".parse().unwrap(),
            ecn: Some(EcnCodepoint::Ce),
            dst_ip: Some("127.0.0.1".parse().unwrap()),
        };
        let mut f = Vec::new();
        assert!(encode(7, 3, &d, &mut f));
        assert!(f.len() <= MAX_HEADER + 4);
        let got = decode(&f, 4).expect("decodes");
        assert_eq!((got.listener, got.shard), (7, 3));
        assert_eq!(got.datagram.data, d.data);
        assert_eq!(got.datagram.addr, d.addr);
        assert_eq!(got.datagram.ecn, d.ecn);
        assert_eq!(got.datagram.dst_ip, d.dst_ip);
        assert!(decode(&f, 3).is_none(), "shard out of range");
        for cut in 0..f.len() - 4 {
            assert!(decode(&f[..cut], 4).is_none(), "cut at {cut}");
        }
        let mut bad = f.clone();
        bad[0] = 0;
        assert!(decode(&bad, 4).is_none(), "magic");
        let mut bad = f.clone();
        bad[8] = 9;
        assert!(decode(&bad, 4).is_none(), "ecn");
        assert!(!encode(1, 70_000, &d, &mut Vec::new()), "shard past u16");
    }
}
