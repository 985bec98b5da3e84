#![forbid(unsafe_code)]
//! Sans-IO HTTP/1.1 for shardgate: pure functions over byte slices, so the
//! whole wire format can be unit-tested and fuzzed without sockets, and the
//! per-request path borrows from the read buffer instead of allocating.
//!
//! Parsing is deliberately stricter than httparse alone (RFC 9112 §6 and §11):
//! a proxy that frames a message differently from the server behind it is a
//! request-smuggling vector, so anything ambiguous is rejected.

mod chunked;
mod dechunk;
mod error;
mod fields;
mod head;
mod normalize;
mod reason;
mod request;
mod response;
mod scan;
mod target;
mod trailers;
mod upgrade;

pub use chunked::{ChunkedDecoder, Feed};
pub use dechunk::Dechunked;
pub use error::Error;
pub use head::{BodyKind, HeaderStore, Limits, Parsed, MAX_HEADERS};
pub use normalize::{needs_normalizing, normalize_target};
pub use reason::canonical_reason;
pub use request::{parse_request, RequestHead};
pub use response::{parse_response, ResponseHead};
pub use target::{absolute_authority, is_valid_host, origin_form, split_absolute_form};
pub use trailers::{filter_trailer_section, forwardable_trailer, trailer_section_is_forwardable};
pub use upgrade::switch_was_offered;
