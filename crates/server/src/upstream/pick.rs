//! Which server of an upstream the next attempt goes to.

use std::rc::Rc;
use std::time::Instant;

use super::build::UpstreamState;
use super::server::ServerState;

/// The balancer's pick among the servers that are not backing off; when every
/// server is, one of them anyway rather than fail without trying (a
/// recovered server is then found at once).
pub(super) fn pick(ust: &UpstreamState, now: Instant) -> Option<&Rc<ServerState>> {
    let i = {
        let mut b = ust.balancer.borrow_mut();
        b.pick(|i| {
            ust.servers
                .get(i)
                .is_some_and(|s| s.health.borrow().is_available(now))
        })
        .or_else(|| b.pick(|_| true))
    }?;
    ust.servers.get(i)
}
