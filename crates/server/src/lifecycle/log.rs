//! Log: the last phase. Per-route metrics always; the access log line when
//! the access log is on and the route did not turn it off.

use shardgate_proxy::ErrorKind;

use super::context::Field;
use super::{RequestCtx, RequestView};
use crate::ctx::{ShardCtx, ShardSnap};

/// Returns how long the request took (its response ended `started` + that).
pub fn log(ctx: &ShardCtx, snap: &ShardSnap, rq: &RequestCtx) -> std::time::Duration {
    let status = rq.final_status();
    let took = rq.started.elapsed();
    let metrics = ctx.route_metrics(snap, rq.route);
    metrics.record(status, took.as_secs_f64(), rq.bytes_in, rq.bytes_out);
    if let Some(ErrorKind::Shed { reason, .. }) = rq.failure.map(|e| e.kind()) {
        metrics.shed(reason);
    }
    if rq.log_enabled {
        ctx.access_line(snap, rq, status, took);
    }
    took
}

/// Copies what the access log needs out of the read buffer (later reads
/// overwrite it) into a pooled buffer.
pub fn capture(ctx: &ShardCtx, rq: &mut RequestCtx, view: &RequestView<'_>) {
    if rq.fields.buf.capacity() == 0 {
        rq.fields.buf = ctx.buffers.take();
    }
    let f = &mut rq.fields;
    f.clear();
    f.put(Field::Method, view.method.as_bytes());
    f.put(Field::Host, view.host.unwrap_or_default().as_bytes());
    f.put(Field::Target, view.target.as_bytes());
    if let Some(v) = view.user_agent {
        f.put(Field::UserAgent, v);
    }
    if let Some(v) = view.referer {
        f.put(Field::Referer, v);
    }
    if rq.request_id.from_client {
        f.put(Field::RequestId, view.request_id.unwrap_or_default());
    }
}
