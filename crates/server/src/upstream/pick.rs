//! Which server of an upstream the next attempt goes to.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use shardgate_proxy::{PickInput, Rng};

use super::build::UpstreamState;
use super::server::ServerState;

/// The balancer's pick among the servers that are not backing off; when every
/// server is, one of them anyway rather than fail without trying (a
/// recovered server is then found at once). `key`: the request's
/// consistent-hash key.
pub(super) fn pick<'u>(
    ust: &'u UpstreamState,
    now: Instant,
    key: Option<u64>,
    rng: &RefCell<Rng>,
) -> Option<&'u Rc<ServerState>> {
    // Whether server `i` may take the request: the one eligibility rule
    // every policy sees.
    let available = |i: usize| {
        ust.servers
            .get(i)
            .is_some_and(|s| s.health.borrow().is_available(now))
    };
    // Read only by the load-aware policies.
    let load = |i: usize| ust.servers.get(i).map(|s| s.load.get()).unwrap_or_default();
    let i = {
        let mut rng = rng.borrow_mut();
        let mut input = PickInput {
            now,
            rng: &mut rng,
            key,
        };
        let mut b = ust.balancer.borrow_mut();
        b.pick(available, load, &mut input)
            .or_else(|| b.pick(|_| true, load, &mut input))
    }?;
    ust.servers.get(i)
}
