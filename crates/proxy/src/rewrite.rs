//! Head rewriting for messages that cross the proxy, and the heads the gateway
//! writes itself.
//!
//! Every writer appends one complete HTTP/1.1 head to a caller-owned `Vec<u8>`
//! (the connection's reusable write buffer) and allocates nothing else. Received
//! field names keep their case; values are trimmed of optional whitespace; fields
//! the gateway generates use lower-case names. Framing (`content-length` /
//! `transfer-encoding`) is always the caller's decision, passed as [`Framing`], and
//! never copied from the received message: that is the core request-smuggling
//! defence on the proxy side.

mod fields;
mod forwarded;
mod framing;
mod hop_limit;
mod limited;
mod request;
mod response;
mod target;
mod wire;

pub use forwarded::{VIA_HTTP11, VIA_HTTP3};
pub use framing::{offered_upgrade, Framing};
pub use hop_limit::{max_forwards, write_final_answer, FinalAnswer, Reflected};
pub use limited::{write_limited_response, Limited};
pub use request::{write_upstream_request, ForwardCtx};
pub use response::{
    put_alt_svc, write_downstream_response, write_error_response, write_error_response_for,
    write_static_response,
};
pub use target::{absolute_authority, origin_form};
