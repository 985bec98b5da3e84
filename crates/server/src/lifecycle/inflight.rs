//! In-flight admission, right after route: the shard's `max_in_flight`
//! (`[server.limits]`), then the route's (over all shards). Over either cap
//! the request is shed at once with 503; admitted, it holds its counts in
//! [`RequestCtx::in_flight`] until its context is dropped (the response
//! ended, or the connection went).

use shardgate_proxy::{Error, ErrorKind, Shed};

use super::RequestCtx;
use crate::ctx::{ShardCtx, ShardSnap};
use crate::flight::Full;

pub fn admit(ctx: &ShardCtx, snap: &ShardSnap, rq: &mut RequestCtx) -> Result<(), Error> {
    let cfg = &snap.snap.config;
    let shed = |full| {
        let reason = match full {
            Full::Shard => Shed::ShardInFlight,
            Full::Route => Shed::RouteInFlight,
        };
        Error::new(ErrorKind::Shed {
            reason,
            status: 503,
        })
    };
    rq.in_flight
        .enter_shard(&ctx.flight, cfg.server.limits.max_in_flight)
        .map_err(shed)?;
    let Some(idx) = rq.route else {
        return Ok(());
    };
    let (Some(route), Some(flight)) = (cfg.routes.get(idx), snap.route_flight.get(idx)) else {
        return Ok(());
    };
    rq.in_flight
        .enter_route(flight, route.max_in_flight)
        .map_err(shed)
}
