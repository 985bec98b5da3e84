//! What `protocol = "h3"` changes about a `[[listener]]`: HTTP/3 runs over
//! QUIC on UDP, so it needs TLS, has a `[listener.quic]` transport and no use
//! for the TCP socket options.

use super::value::at;
use crate::model::{Protocol, QuicConfig};
use crate::raw::RawListener;
use crate::report::Report;

/// Checks the rules tied to the protocol; returns the listener's `quic`
/// (present exactly for `h3`). `base` is the listener's key path.
pub(crate) fn h3_rules(
    r: &mut Report<'_>,
    raw: &RawListener,
    protocol: Protocol,
    base: &str,
) -> Option<QuicConfig> {
    let key = |field: &str| format!("{base}.{field}");
    match protocol {
        Protocol::Http => {
            if let Some(q) = raw.quic.as_ref() {
                r.error(
                    at(q),
                    key("quic"),
                    "[listener.quic] applies only to a listener with protocol = \"h3\"",
                );
            }
            None
        }
        Protocol::H3 => {
            // `protocol` is written (h3 is not the default), so it has a span.
            if let (None, Some(p)) = (raw.tls.as_ref(), raw.protocol.as_ref()) {
                r.error(
                    at(p),
                    key("protocol"),
                    "an h3 listener needs a [listener.tls] table: QUIC always runs TLS 1.3",
                );
            }
            // Silently ignoring them would let an operator believe they tuned
            // something; they are TCP socket options and QUIC runs over UDP.
            let tcp_only = [
                ("backlog", raw.backlog.as_ref().map(at)),
                ("tcp_fast_open", raw.tcp_fast_open.as_ref().map(at)),
                ("defer_accept", raw.defer_accept.as_ref().map(at)),
            ];
            for (name, offset) in tcp_only {
                if let Some(offset) = offset {
                    r.error(
                        offset,
                        key(name),
                        format!(
                            "`{name}` is a TCP option and would do nothing on an h3 listener \
                             (QUIC runs over UDP); remove it"
                        ),
                    );
                }
            }
            Some(super::quic::quic(r, raw.quic.as_ref(), &key("quic")))
        }
    }
}
