//! Which server of an upstream the next attempt goes to.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use shardgate_proxy::{PickInput, Rng};

use super::build::UpstreamState;
use super::server::ServerState;
use super::shared::millis;
use super::tried::Tried;

/// The balancer's pick among the available servers (`is_available`: this
/// shard is not backing off, the active check passes, not ejected) that the
/// request has not tried (`tried`: a retry goes to another server; `None`
/// when every server was tried, and the retry rule decides). `key`: the
/// request's consistent-hash key.
///
/// When every healthy server is backing off in this shard, one of the
/// healthy ones anyway rather than fail without trying (a recovered server
/// is then found at once). When fewer than `panic_threshold` percent of the
/// servers are healthy (panic), health is ignored: the pick is among all
/// servers not backing off, else any, so an outage of the health signal
/// (or of most servers) does not turn into 503s for every request. With
/// the threshold at 0 and no healthy server, nothing is picked (503).
pub(super) fn pick<'u>(
    ust: &'u UpstreamState,
    now: Instant,
    key: Option<u64>,
    rng: &RefCell<Rng>,
    tried: Tried,
) -> Option<(usize, &'u Rc<ServerState>)> {
    let now_ms = millis(now);
    let panic = ust.in_panic(now_ms);
    let server = |i: usize| ust.servers.get(i);
    // Read only by the load-aware policies.
    let load = |i: usize| server(i).map(|s| s.load.get()).unwrap_or_default();
    let i = {
        let mut rng = rng.borrow_mut();
        let mut input = PickInput {
            now,
            rng: &mut rng,
            key,
        };
        let mut b = ust.balancer.borrow_mut();
        if panic {
            ust.metrics.panic_picks.increment(1);
            let not_backing_off = |i: usize| {
                !tried.has(i) && server(i).is_some_and(|s| s.health.borrow().is_available(now))
            };
            b.pick(not_backing_off, load, &mut input)
                .or_else(|| b.pick(|i| !tried.has(i), load, &mut input))
        } else {
            // The one eligibility rule every policy sees.
            let available =
                |i: usize| !tried.has(i) && server(i).is_some_and(|s| s.is_available(now, now_ms));
            let healthy =
                |i: usize| !tried.has(i) && server(i).is_some_and(|s| s.shared.is_healthy(now_ms));
            b.pick(available, load, &mut input)
                .or_else(|| b.pick(healthy, load, &mut input))
        }
    }?;
    server(i).map(|s| (i, s))
}

impl UpstreamState {
    /// Whether a pick leaving out `tried` finds a server: the retry rule asks
    /// before it drops what the request has (an origin's answer, a failure
    /// that says what went wrong). The same eligibility as `pick`'s last
    /// resort: a healthy server, or in panic any.
    pub fn can_pick(&self, tried: Tried, now: Instant) -> bool {
        let now_ms = millis(now);
        let panic = self.in_panic(now_ms);
        self.servers
            .iter()
            .enumerate()
            .any(|(i, s)| !tried.has(i) && (panic || s.shared.is_healthy(now_ms)))
    }
}
