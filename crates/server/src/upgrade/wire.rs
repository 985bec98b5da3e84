//! The records of the upgrade channel (ADR 19): one text record per
//! `SOCK_SEQPACKET` message, `verb key=value …`, a listener's name last (it
//! may hold spaces). Each record is at most [`MAX_RECORD`] bytes and carries
//! at most one descriptor; the receiver refuses anything else.

use std::net::SocketAddr;

/// Longest record either side sends or accepts (a `failed` record's error
/// text is cut to fit).
pub const MAX_RECORD: usize = 64 * 1024;
/// Version of this record set; a new binary speaking another refuses.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Old → new, first: the old process's CID generation, shard count,
    /// steering mode and PID.
    Hello {
        version: u32,
        generation: u8,
        shards: usize,
        steering: String,
        pid: u32,
    },
    /// Old → new, with one socket: shard `shard`'s member of a listener.
    Socket(SocketRecord),
    /// Old → new, with the admin listener.
    Admin { configured: SocketAddr },
    /// Old → new, with the sending end of the QUIC forwarding socket.
    Forward,
    /// Old → new, last: how many records came before it (hello included).
    End { records: usize },
    /// New → old: serving; the old process may retire.
    Ready { pid: u32 },
    /// New → old: refused (config errors, an unusable socket …).
    Failed { errors: String },
    /// Old → new: the old process stopped reading the UDP sockets.
    Go,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRecord {
    pub udp: bool,
    pub shard: usize,
    /// The listener's id in the old process (frames forwarded back name it).
    pub id: u32,
    /// `h3`: where the steering program reads the shard byte.
    pub offset: u8,
    pub configured: SocketAddr,
    pub local: SocketAddr,
    pub name: String,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let s = match self {
            Record::Hello {
                version,
                generation,
                shards,
                steering,
                pid,
            } => format!(
                "hello version={version} generation={generation} shards={shards} steering={steering} pid={pid}"
            ),
            Record::Socket(r) => format!(
                "socket kind={} shard={} id={} offset={} configured={} local={} name={}",
                if r.udp { "udp" } else { "tcp" },
                r.shard,
                r.id,
                r.offset,
                r.configured,
                r.local,
                r.name
            ),
            Record::Admin { configured } => format!("admin configured={configured}"),
            Record::Forward => "forward".into(),
            Record::End { records } => format!("end records={records}"),
            Record::Ready { pid } => format!("ready pid={pid}"),
            Record::Failed { errors } => {
                let mut cut = errors.len().min(MAX_RECORD - 16);
                while !errors.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("failed\n{}", errors.get(..cut).unwrap_or_default())
            }
            Record::Go => "go".into(),
        };
        s.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "record is not UTF-8".to_string())?;
        if let Some(errors) = text.strip_prefix("failed\n") {
            return Ok(Record::Failed {
                errors: errors.to_string(),
            });
        }
        // The name runs to the end of the record.
        let (head, name) = match text.split_once(" name=") {
            Some((h, n)) => (h, Some(n)),
            None => (text, None),
        };
        let mut words = head.split(' ');
        let verb = words.next().unwrap_or_default();
        let fields: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("{verb} record without {k}"))
        };
        fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
            v.parse().map_err(|_| format!("bad {k}: {v:?}"))
        }
        Ok(match verb {
            "hello" => Record::Hello {
                version: num("version", get("version")?)?,
                generation: num("generation", get("generation")?)?,
                shards: num("shards", get("shards")?)?,
                steering: get("steering")?.to_string(),
                pid: num("pid", get("pid")?)?,
            },
            "socket" => Record::Socket(SocketRecord {
                udp: match get("kind")? {
                    "udp" => true,
                    "tcp" => false,
                    k => return Err(format!("bad kind: {k:?}")),
                },
                shard: num("shard", get("shard")?)?,
                id: num("id", get("id")?)?,
                offset: num("offset", get("offset")?)?,
                configured: num("configured", get("configured")?)?,
                local: num("local", get("local")?)?,
                name: name
                    .filter(|n| !n.is_empty())
                    .ok_or("socket record without name")?
                    .to_string(),
            }),
            "admin" => Record::Admin {
                configured: num("configured", get("configured")?)?,
            },
            "forward" => Record::Forward,
            "end" => Record::End {
                records: num("records", get("records")?)?,
            },
            "ready" => Record::Ready {
                pid: num("pid", get("pid")?)?,
            },
            "go" => Record::Go,
            other => return Err(format!("unknown record {other:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_round_trips() {
        let records = [
            Record::Hello {
                version: VERSION,
                generation: 6,
                shards: 2,
                steering: "hash".into(),
                pid: 42,
            },
            Record::Socket(SocketRecord {
                udp: true,
                shard: 1,
                id: 9,
                offset: 3,
                configured: "0.0.0.0:0".parse().unwrap(),
                local: "[::1]:443".parse().unwrap(),
                name: "public h3 name=x".into(),
            }),
            Record::Admin {
                configured: "127.0.0.1:9000".parse().unwrap(),
            },
            Record::Forward,
            Record::End { records: 5 },
            Record::Ready { pid: 7 },
            Record::Failed {
                errors: "gw.toml:3:1: listener[0].address: bad\nsecond line".into(),
            },
            Record::Go,
        ];
        for r in records {
            assert_eq!(Record::decode(&r.encode()), Ok(r.clone()));
        }
    }

    #[test]
    fn malformed_records_are_refused() {
        for bad in [
            &b"socket kind=sctp shard=0 id=1 offset=0 configured=1.2.3.4:5 local=1.2.3.4:5 name=a"
                [..],
            b"socket kind=tcp shard=x id=1 offset=0 configured=1.2.3.4:5 local=1.2.3.4:5 name=a",
            b"socket kind=tcp shard=0 id=1 offset=0 configured=1.2.3.4:5 local=1.2.3.4:5",
            b"hello version=1",
            b"end",
            b"launch",
            b"\xff\xfe",
        ] {
            assert!(
                Record::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = Record::Failed {
            errors: "é".repeat(MAX_RECORD),
        };
        assert!(long.encode().len() <= MAX_RECORD);
    }
}
