//! The request lifecycle every front end goes through, in order:
//!
//! ```text
//!  front end (HTTP/1.1 bytes; HTTP/3 next) ── RequestView ──►
//!    admit ─► route ─► select ─► send ─► receive ─► log
//!      │        │        │         └── front-end I/O ──┘     │
//!      │        │        └ upstream::acquire, retry rule     ├ per-route / per-upstream metrics
//!      │        │          (attempts: timeouts, budget;      │
//!      │        │           replay: the kept request body)   │
//!      │        └ router → Respond | Proxy                   └ access log line
//!      └ method, body limit      (after route: Max-Forwards, `hop_limit`; in-flight
//!                                 caps, `inflight`; the route's rate limits, `limit`)
//! ```
//!
//! One [`RequestCtx`] per request carries what every phase reads and writes;
//! it lives on the request task's stack, with one pooled buffer for the
//! access log's copies of the request's strings, so a steady-state request
//! allocates nothing. A failing phase records one [`shardgate_proxy::Error`]
//! (side, errno, retry decision) and the status falls out of it.
//!
//! `send` and `receive` are the front end's own I/O (the HTTP/1.1 zero-copy
//! head rewrite stays in `conn::forward`); they record into the context
//! through [`RequestCtx`]'s methods.

pub mod access;
pub mod admit;
pub mod attempts;
pub mod concurrency;
pub mod context;
pub mod enter;
pub mod hash_key;
pub mod hop_limit;
pub mod inflight;
pub mod limit;
pub mod log;
pub mod replay;
pub mod request_id;
pub mod route;
pub mod select;
pub mod view;

pub use admit::admit;
pub use attempts::{within, Attempts};
pub use context::RequestCtx;
pub use enter::enter;
pub use replay::{BodyLen, Replay};
pub use route::{route, Decision};
pub use select::select;
pub use view::{HeaderFields, RequestView};
