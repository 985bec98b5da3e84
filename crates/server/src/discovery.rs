//! Servers given by host name (`"app.internal:8080"`): resolving the names —
//! at start and on reload (a name that does not resolve refuses the config),
//! then again every `resolve_interval` (sooner when the DNS answer's TTL is
//! shorter) on the resolver thread, never on a shard — and the config the
//! shards run, with one server per resolved address.
//!
//! With `[resolver] nameservers` the gateway asks those servers itself
//! (`query`: UDP, TCP on truncation, TTLs honoured); without, it asks the
//! system (`getaddrinfo`: `/etc/hosts` and `/etc/resolv.conf`, no TTLs).

mod answer;
mod dns;
mod query;
mod resolve;
mod system;
mod table;

pub use answer::Answer;
pub use resolve::{resolve, unresolved};
pub use table::Table;
