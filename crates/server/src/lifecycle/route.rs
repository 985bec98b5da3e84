//! Route: which rule answers the request, and with what.

use shardgate_config::{RouteAction, RouteConfig, StaticResponse};
use shardgate_proxy::{Error, ErrorKind, FinalAnswer};

use super::{RequestCtx, RequestView};
use crate::snapshot::Snapshot;

/// Which rule refused a request, and when it would admit one again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Index of the rule in the route's `rate_limits`.
    pub rule: usize,
    /// Whole seconds (rounded up, at least 1): `Retry-After`.
    pub retry_after: u64,
}

pub enum Decision<'s> {
    /// Answer from the gateway.
    Respond(&'s RouteConfig, &'s StaticResponse),
    /// Forward to upstream index `upstream`.
    Proxy(&'s RouteConfig, usize),
    /// A rate limit of the route refused the request: answer it (429).
    Limited(&'s RouteConfig, Refusal),
    /// An OPTIONS or TRACE the route would forward, with Max-Forwards spent:
    /// the gateway is its final recipient (`hop_limit`).
    Final(&'s RouteConfig, FinalAnswer),
}

impl<'s> Decision<'s> {
    pub fn route(&self) -> &'s RouteConfig {
        match self {
            Decision::Respond(r, _)
            | Decision::Proxy(r, _)
            | Decision::Limited(r, _)
            | Decision::Final(r, _) => r,
        }
    }
}

/// Records the route (and upstream) in `rq`.
pub fn route<'s>(
    rq: &mut RequestCtx,
    view: &RequestView<'_>,
    snap: &'s Snapshot,
) -> Result<Decision<'s>, Error> {
    let idx = snap
        .router
        .lookup(rq.listener, view.host, view.path())
        .ok_or(Error::new(ErrorKind::NoRoute))?;
    let route = snap
        .config
        .routes
        .get(idx)
        .ok_or(Error::new(ErrorKind::Internal))?;
    rq.route = Some(idx);
    rq.log_enabled = rq.log_enabled && route.access_log;
    match &route.action {
        RouteAction::Respond(resp) => Ok(Decision::Respond(route, resp)),
        RouteAction::Proxy { .. } => {
            // Resolved when the snapshot was built; absent only by a bug.
            let up = snap
                .route_upstream
                .get(idx)
                .copied()
                .flatten()
                .ok_or(Error::new(ErrorKind::Internal))?;
            rq.upstream = Some(up);
            Ok(Decision::Proxy(route, up))
        }
    }
}
