//! Which path takes which methods, who may call it, and what answers.
//!
//! | path | methods | token needed |
//! |---|---|---|
//! | `/healthz`, `/ready` | GET, HEAD | no: load balancers and orchestrators probe them without credentials (as HAProxy and Envoy keep theirs open) |
//! | `/metrics`, `/config`, `/config/generation`, `/upstreams`, `/shards` | GET, HEAD | yes, when `token_file` is set |
//! | `/reload`, `/drain` | POST | yes, when `token_file` is set |
//!
//! Unknown path: 404; known path, other method: 405 with `allow`; missing
//! or wrong token: 401 with `www-authenticate: Bearer`, counted in
//! `shardgate_admin_unauthorized_total` and never logged (a client can
//! send as many as it likes).

use std::time::Instant;

use super::reply::{Reply, METRICS_CONTENT_TYPE};
use super::request::Request;
use super::{auth, config, ops, ready, shards, upstreams};
use crate::control::Control;
use crate::metrics::control::admin_unauthorized;
use crate::metrics::recorder::PromRecorder;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Healthz,
    Ready,
    Metrics,
    Config,
    Generation,
    Upstreams,
    Shards,
    Reload,
    Drain,
}

const READ: &str = "GET, HEAD";
const WRITE: &str = "POST";

/// (path, endpoint, allowed methods, open without a token)
const ENDPOINTS: [(&str, Endpoint, &str, bool); 9] = [
    ("/healthz", Endpoint::Healthz, READ, true),
    ("/ready", Endpoint::Ready, READ, true),
    ("/metrics", Endpoint::Metrics, READ, false),
    ("/config", Endpoint::Config, READ, false),
    ("/config/generation", Endpoint::Generation, READ, false),
    ("/upstreams", Endpoint::Upstreams, READ, false),
    ("/shards", Endpoint::Shards, READ, false),
    ("/reload", Endpoint::Reload, WRITE, false),
    ("/drain", Endpoint::Drain, WRITE, false),
];

pub fn handle(req: &Request, control: &Control, recorder: Option<&PromRecorder>) -> Reply {
    let Some(&(_, endpoint, allow, open)) = ENDPOINTS.iter().find(|e| e.0 == req.path) else {
        return Reply::text(404, "not found\n");
    };
    let allowed = match allow {
        READ => req.method == "GET" || req.method == "HEAD",
        _ => req.method == "POST",
    };
    if !allowed {
        let mut r = Reply::text(405, "method not allowed\n");
        r.allow = Some(allow);
        return r;
    }
    let snap = control.shared.snapshot.load();
    if !open {
        // Read from the running generation: a reload that changes the
        // token file applies to the next request.
        if let Some(token) = snap.config.admin.as_ref().and_then(|a| a.token.as_ref()) {
            if !auth::authorized(req.authorization.as_deref(), token) {
                admin_unauthorized().increment(1);
                let mut r = Reply::text(401, "a bearer token is required\n");
                r.challenge = true;
                return r;
            }
        }
    }
    match endpoint {
        Endpoint::Healthz => Reply::text(200, "ok\n"),
        Endpoint::Ready => ready::render(control, snap.generation),
        Endpoint::Metrics => match recorder {
            Some(r) => {
                for t in &snap.quic_tables {
                    crate::metrics::quic::table_gauges(&t.listener, t.shard, t.slots.counts());
                }
                Reply {
                    content_type: METRICS_CONTENT_TYPE,
                    ..Reply::text(200, r.render())
                }
            }
            None => Reply::text(
                503,
                "another metrics recorder is installed in this process\n",
            ),
        },
        Endpoint::Config => config::render(&snap, control.file().as_deref()),
        Endpoint::Generation => Reply::text(200, format!("{}\n", snap.generation)),
        Endpoint::Upstreams => Reply::json_text(
            200,
            upstreams::render(&snap, crate::upstream::millis(Instant::now())),
        ),
        Endpoint::Shards => shards::render(control),
        Endpoint::Reload => {
            // Not `snap`: it may be older than the generation being replaced.
            drop(snap);
            ops::reload(control)
        }
        Endpoint::Drain => ops::drain(control),
    }
}
