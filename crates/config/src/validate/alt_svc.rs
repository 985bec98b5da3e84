//! `[listener.tls] alt_svc`: a TLS-over-TCP listener advertises an `h3`
//! listener with `Alt-Svc: h3=":<port>"`, so the name must lead to one. The
//! check needs every listener, so it runs after they are all read.

use super::value::{at, quoted_list};
use crate::model::{ListenerConfig, Protocol};
use crate::raw::{RawListener, Section};
use crate::report::Report;

/// `listeners` holds one entry per element of `section`, in the same order.
pub(crate) fn alt_svc(
    r: &mut Report<'_>,
    section: &Section<RawListener>,
    listeners: &[ListenerConfig],
) {
    for ((i, raw), this) in section.items.iter().zip(listeners) {
        let Some(tls) = raw.get_ref().tls.as_ref() else {
            continue;
        };
        let Some(v) = tls.get_ref().alt_svc.as_ref() else {
            continue;
        };
        let key = format!("listener[{i}].tls.alt_svc");
        let target = v.get_ref();
        if this.protocol == Protocol::H3 {
            r.error(
                at(v),
                key,
                "alt_svc belongs on a TLS-over-TCP listener, to advertise an h3 one; \
                 an h3 listener is the alternative service itself",
            );
            continue;
        }
        let h3: Vec<&str> = listeners
            .iter()
            .filter(|l| l.protocol == Protocol::H3)
            .map(|l| l.name.as_str())
            .collect();
        let known = if h3.is_empty() {
            "no listener has protocol = \"h3\"".to_string()
        } else {
            format!("h3 listeners: {}", quoted_list(h3))
        };
        match listeners.iter().find(|l| &l.name == target) {
            Some(l) if l.protocol == Protocol::H3 => {}
            Some(_) => r.error(
                at(v),
                key,
                format!(
                    "listener {target:?} is not an h3 listener (alt_svc must name one with \
                     protocol = \"h3\"); {known}"
                ),
            ),
            // An unreadable listener may be the one named: say nothing then.
            None if section.complete => {
                r.error(at(v), key, format!("unknown listener {target:?}; {known}"))
            }
            None => {}
        }
    }
}
