//! Entering the lifecycle, the same for every front end: admit, route, Max-Forwards, the
//! in-flight caps, the route's rate limits, the consistent-hash key, the request id, and the access log's copies of the
//! request's strings.

use super::request_id::RequestId;
use super::{admit, route, Decision, RequestCtx, RequestView};
use crate::ctx::{ShardCtx, ShardSnap};
use shardgate_proxy::Error;

/// Runs admit, route, the in-flight caps and the route's rate limits for `view`, resolves the request id and, when the
/// request will be logged, copies what the log needs. The decision (or the
/// refusal) is the front end's to act on.
pub fn enter<'s>(
    ctx: &ShardCtx,
    snap: &'s ShardSnap,
    rq: &mut RequestCtx,
    view: &RequestView<'_>,
) -> Result<Decision<'s>, Error> {
    let cfg = &snap.snap.config;
    let decision = admit(view, cfg)
        .and_then(|()| route(rq, view, &snap.snap))
        .and_then(|d| super::hop_limit::apply(rq, view, d))
        .and_then(|d| super::inflight::admit(ctx, snap, rq).map(|()| d))
        .map(|d| super::limit::check(ctx.id, snap, rq, view, d));
    if let Ok(Decision::Proxy(_, up)) = &decision {
        // Only `consistent_hash` upstreams have a key: nothing to do for
        // the other policies.
        if let Some(key) = cfg.upstreams.get(*up).and_then(|u| u.hash_key.as_ref()) {
            rq.hash = Some(super::hash_key::hash(key, view, rq.client.ip()));
        }
    }
    if cfg.request_id.enabled {
        rq.request_id = RequestId::resolve(view.request_id, &mut ctx.rng.borrow_mut());
    }
    if rq.log_enabled {
        super::log::capture(ctx, rq, view);
    }
    decision
}
