//! The DNS wire format, as much as a stub resolver needs (RFC 1035): a
//! query for one name and type, and the addresses (with their TTL) in the
//! answer, following a CNAME chain. Answers come from the network, so every
//! read is bounds-checked and compression pointers are limited.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// EDNS(0) payload size we accept over UDP: large answers fit without
/// falling back to TCP (RFC 6891; 1232 is the DNS flag day value).
const UDP_PAYLOAD: u16 = 1232;
/// CNAMEs followed at most (resolvers answer with the whole chain).
const MAX_CHAIN: usize = 8;
/// Compression pointers followed at most within one name.
const MAX_JUMPS: usize = 32;

/// A query for `host` (lower-case, no trailing dot) with recursion desired
/// and an EDNS(0) OPT record.
pub fn query(id: u16, host: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + host.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    m.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    m.extend_from_slice(&[0, 0, 0, 0]); // ANCOUNT, NSCOUNT
    m.extend_from_slice(&1u16.to_be_bytes()); // ARCOUNT: the OPT record
    for label in host.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len().min(63) as u8);
        m.extend_from_slice(label.as_bytes().get(..63).unwrap_or(label.as_bytes()));
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m.push(0); // OPT: root name
    m.extend_from_slice(&TYPE_OPT.to_be_bytes());
    m.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // extended rcode, flags, RDLEN
    m
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    /// The name does not exist.
    NxDomain,
    /// SERVFAIL, REFUSED, …: the server could not answer.
    Other(u8),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub id: u16,
    /// Cut to fit a UDP datagram: ask again over TCP.
    pub truncated: bool,
    pub rcode: Rcode,
    pub addrs: Vec<IpAddr>,
    /// The smallest TTL of the records used (None: no records).
    pub ttl: Option<u32>,
}

/// Reads a reply to a query for (`host`, `qtype`). A reply for another
/// question, or one that does not parse, is an error.
pub fn parse(msg: &[u8], host: &str, qtype: u16) -> Result<Reply, &'static str> {
    let mut c = Cursor { msg, pos: 0 };
    let id = c.u16()?;
    let flags = c.u16()?;
    if flags & 0x8000 == 0 {
        return Err("not a response");
    }
    let rcode = match flags & 0x000F {
        0 => Rcode::NoError,
        3 => Rcode::NxDomain,
        n => Rcode::Other(n as u8),
    };
    let (qd, an) = (c.u16()?, c.u16()?);
    c.u16()?;
    c.u16()?;
    if qd != 1 {
        return Err("not one question");
    }
    let qname = c.name()?;
    let (qt, qc) = (c.u16()?, c.u16()?);
    if qname != host || qt != qtype || qc != CLASS_IN {
        return Err("answer to another question");
    }
    let mut records = Vec::new();
    for _ in 0..an {
        let owner = c.name()?;
        let (rtype, class, ttl, len) = (c.u16()?, c.u16()?, c.u32()?, usize::from(c.u16()?));
        let start = c.pos;
        let data = c.take(len)?;
        if class != CLASS_IN {
            continue;
        }
        let value = match (rtype, data.len()) {
            (TYPE_A, 4) => Data::Addr(IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(data).map_err(|_| "bad A record")?,
            ))),
            (TYPE_AAAA, 16) => Data::Addr(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(data).map_err(|_| "bad AAAA record")?,
            ))),
            (TYPE_CNAME, _) => Data::Alias(Cursor { msg, pos: start }.name()?),
            _ => continue,
        };
        records.push((owner, rtype, ttl, value));
    }
    // Follow the chain from the question's name to the name that holds
    // the addresses.
    let mut name = qname;
    let mut ttl: Option<u32> = None;
    let mut min = |t: u32| ttl = Some(ttl.map_or(t, |m| m.min(t)));
    for _ in 0..MAX_CHAIN {
        let alias = records.iter().find_map(|(o, _, t, v)| match v {
            Data::Alias(to) if *o == name => Some((to.clone(), *t)),
            _ => None,
        });
        let Some((to, t)) = alias else { break };
        min(t);
        name = to;
    }
    let mut addrs = Vec::new();
    for (owner, rtype, t, v) in &records {
        if let (true, Data::Addr(a)) = (*owner == name && *rtype == qtype, v) {
            min(*t);
            addrs.push(*a);
        }
    }
    Ok(Reply {
        id,
        truncated: flags & 0x0200 != 0,
        rcode,
        addrs,
        ttl,
    })
}

enum Data {
    Addr(IpAddr),
    Alias(String),
}

struct Cursor<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("truncated")?;
        let s = self.msg.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes(b.try_into().map_err(|_| "truncated")?))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(b.try_into().map_err(|_| "truncated")?))
    }

    /// A (possibly compressed) name, lower-case, labels joined by dots.
    fn name(&mut self) -> Result<String, &'static str> {
        let mut name = String::new();
        let mut at = self.pos;
        let mut jumped = false;
        for _ in 0..=MAX_JUMPS {
            loop {
                let len = *self.msg.get(at).ok_or("truncated name")?;
                match len & 0xC0 {
                    0x00 if len == 0 => {
                        if !jumped {
                            self.pos = at + 1;
                        }
                        return Ok(name);
                    }
                    0x00 => {
                        let label = self
                            .msg
                            .get(at + 1..at + 1 + usize::from(len))
                            .ok_or("truncated name")?;
                        if !name.is_empty() {
                            name.push('.');
                        }
                        name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
                        if name.len() > 255 {
                            return Err("name too long");
                        }
                        at += 1 + usize::from(len);
                    }
                    0xC0 => {
                        let low = *self.msg.get(at + 1).ok_or("truncated name")?;
                        if !jumped {
                            self.pos = at + 2;
                            jumped = true;
                        }
                        at = (usize::from(len & 0x3F) << 8) | usize::from(low);
                        break;
                    }
                    _ => return Err("bad label"),
                }
            }
        }
        Err("compression loop")
    }
}

#[cfg(test)]
mod tests;
