//! [`RawDocument`] → [`Config`]: every rule that serde cannot express.
//!
//! Each section check converts what it can, reports what it cannot, and
//! returns placeholders for the rest, so all problems of a file come out of
//! one run. The caller discards the `Config` if anything was reported.

mod admin;
mod alt_svc;
mod balance;
mod discovery;
mod flow;
mod h3;
mod headers;
mod health;
mod host;
mod listener;
mod logging;
mod outlier;
mod quic;
mod rate_limit;
mod retry;
mod route;
mod server;
mod tls;
mod upstream;
mod upstream_tls;
mod value;

use std::path::Path;

use crate::model::Config;
use crate::raw::RawDocument;
use crate::report::Report;

pub(crate) fn validate(r: &mut Report<'_>, doc: &RawDocument, dir: &Path) -> Config {
    let server = server::server(r, doc.server.as_ref(), dir);
    let (listeners, bound) = listener::listeners(r, doc, dir);
    let admin = admin::admin(r, doc.admin.as_ref(), &bound, dir);
    let upstreams = upstream::upstreams(r, &doc.upstreams, dir);
    let listener_names: Vec<String> = listeners.iter().map(|l| l.name.clone()).collect();
    let upstream_names: Vec<String> = upstreams.iter().map(|u| u.name.clone()).collect();
    let known = route::Known {
        listeners: &listener_names,
        listeners_complete: doc.listeners.complete,
        upstreams: &upstream_names,
        upstreams_complete: doc.upstreams.complete,
    };
    let routes = route::routes(r, &doc.routes, &known);
    Config {
        server,
        admin,
        listeners,
        routes,
        upstreams,
        access_log: logging::access_log(r, doc.access_log.as_ref(), dir),
        request_id: logging::request_id(r, doc.request_id.as_ref()),
        resolver: discovery::resolver(r, doc.resolver.as_ref()),
    }
}
