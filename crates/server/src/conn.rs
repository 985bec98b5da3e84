//! The HTTP/1.1 front end: one downstream connection, plain or TLS.
//!
//! Files, each depending only on those listed before it: `io` (owned-buffer
//! I/O with deadlines), `splice` (socket → pipe → socket), `body` (body
//! framing), `pump` (moving a body: buffered or spliced), `downstream`
//! (the client side and what a request leaves it in), `state` (what a
//! connection keeps between tasks), `request` and `response` (head
//! preparation), `receive`, `local` (answers from the gateway itself), `forward`
//! (select/send/receive for one request),
//! `serve` (one request, start to log line), `linger` (closing while the
//! client may still send), `wait` (hot window), `park`
//! (idle connections leave the runtime), `tunnel` (after `101`), `run` (the
//! request task), `lot` (resumes parked connections), `secure` (TLS).

pub mod body;
pub mod downstream;
pub mod forward;
pub mod io;
pub mod linger;
pub mod local;
pub mod lot;
pub mod park;
pub mod pump;
pub mod receive;
pub mod request;
pub mod response;
pub mod run;
pub mod secure;
pub mod serve;
pub mod splice;
pub mod state;
pub mod trailers;
pub mod tunnel;
pub mod wait;
pub mod window;
