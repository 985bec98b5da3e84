//! `[[listener]]`: names, addresses, socket options.
//! What `protocol = "h3"` changes is in `h3.rs`; `alt_svc` in `alt_svc.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use super::value::{address, at, choice, int, name, required};
use crate::model::{AdminConfig, ListenerConfig, Protocol};
use crate::raw::RawDocument;
use crate::report::Report;

/// `listen()` takes an `int` and the kernel clamps to `somaxconn` anyway.
pub(crate) const MAX_BACKLOG: u32 = 65_535;
pub(crate) const MAX_TCP_FAST_OPEN: u32 = 65_535;
/// As many as one shard's connection table can hold.
const MAX_CONNECTIONS_PER_CLIENT: u32 = 1_048_576;

const PROTOCOLS: [(&str, Protocol); 2] = [("http", Protocol::Http), ("h3", Protocol::H3)];

/// TCP and UDP ports are separate namespaces: a TCP listener and an `h3`
/// (UDP) listener may share an address, which is how HTTP/3 is offered next
/// to HTTPS on `:443`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn of(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Http => Self::Tcp,
            Protocol::H3 => Self::Udp,
        }
    }
}

/// Which listener (by index and name) binds an address, for duplicate reports.
pub(crate) type Bound = HashMap<(Transport, SocketAddr), (usize, String)>;

pub(crate) fn listeners(
    r: &mut Report<'_>,
    doc: &RawDocument,
    dir: &Path,
) -> (Vec<ListenerConfig>, Bound) {
    let section = &doc.listeners;
    let mut out = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut bound = Bound::new();
    if section.items.is_empty() && section.complete {
        r.error(
            doc.listener_key.unwrap_or(0),
            "listener",
            "at least one [[listener]] is required",
        );
    }
    for (i, raw) in &section.items {
        let table_at = at(raw);
        let raw = raw.get_ref();
        let base = format!("listener[{i}]");
        let key = |field: &str| format!("{base}.{field}");

        let listener_name = match required(r, raw.name.as_ref(), table_at, &key("name")) {
            Some(v) => {
                name(r, v, &key("name"));
                if let Some(first) = names.get(v.get_ref()) {
                    r.error(
                        at(v),
                        key("name"),
                        format!(
                            "duplicate listener name {:?} (also listener[{first}])",
                            v.get_ref()
                        ),
                    );
                } else {
                    names.insert(v.get_ref().clone(), *i);
                }
                v.get_ref().clone()
            }
            None => String::new(),
        };

        let protocol = choice(
            r,
            raw.protocol.as_ref(),
            &key("protocol"),
            Protocol::default(),
            &PROTOCOLS,
        );
        let transport = Transport::of(protocol);
        let addr = required(r, raw.address.as_ref(), table_at, &key("address"))
            .and_then(|v| address(r, v, &key("address")).map(|a| (a, v)));
        if let Some((addr, v)) = addr {
            // Port 0 asks the kernel for a free port, so two of them never clash.
            if addr.port() != 0 {
                if let Some((first, first_name)) = bound.get(&(transport, addr)) {
                    let what = match transport {
                        Transport::Tcp => "address",
                        Transport::Udp => "UDP address",
                    };
                    r.error(
                        at(v),
                        key("address"),
                        format!(
                            "{what} {addr} is already used by listener[{first}] ({first_name:?})"
                        ),
                    );
                } else {
                    bound.insert((transport, addr), (*i, listener_name.clone()));
                }
            }
        }
        let quic = super::h3::h3_rules(r, raw, protocol, &base);

        out.push(ListenerConfig {
            name: listener_name,
            address: addr.map_or(AdminConfig::DEFAULT_ADDRESS, |(a, _)| a),
            protocol,
            tcp_fast_open: int(
                r,
                raw.tcp_fast_open.as_ref(),
                &key("tcp_fast_open"),
                ListenerConfig::DEFAULT_TCP_FAST_OPEN,
                0..=MAX_TCP_FAST_OPEN,
            ),
            backlog: int(
                r,
                raw.backlog.as_ref(),
                &key("backlog"),
                ListenerConfig::DEFAULT_BACKLOG,
                1..=MAX_BACKLOG,
            ),
            defer_accept: raw
                .defer_accept
                .as_ref()
                .map_or(ListenerConfig::DEFAULT_DEFER_ACCEPT, |v| *v.get_ref()),
            max_connections_per_client: int(
                r,
                raw.max_connections_per_client.as_ref(),
                &key("max_connections_per_client"),
                ListenerConfig::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
                0..=MAX_CONNECTIONS_PER_CLIENT,
            ),
            tls: raw
                .tls
                .as_ref()
                .and_then(|t| super::tls::tls(r, t, &key("tls"), dir)),
            quic,
        });
    }
    super::alt_svc::alt_svc(r, section, &out);
    (out, bound)
}
