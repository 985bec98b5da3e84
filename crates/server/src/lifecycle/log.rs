//! Log: the last phase. Per-route metrics always; the access log line when
//! the access log is on and the route did not turn it off.

use super::RequestCtx;
use crate::ctx::{ShardCtx, ShardSnap};

pub fn log(ctx: &ShardCtx, snap: &ShardSnap, rq: &RequestCtx) {
    let status = rq.final_status();
    let took = rq.started.elapsed();
    ctx.route_metrics(snap, rq.route)
        .record(status, took.as_secs_f64(), rq.bytes_in, rq.bytes_out);
    if rq.log_enabled {
        ctx.access_line(snap, rq, status, took);
    }
}
