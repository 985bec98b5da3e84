//! What an HTTP/3 request takes upstream: whether it has a body, and the
//! parts of its head the send and receive phases read.

use shardgate_config::RouteConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqBody {
    None,
    Length(u64),
    /// No Content-Length: sent upstream chunked.
    Streamed,
}

impl ReqBody {
    /// Declared or seen to carry no bytes.
    pub fn is_empty(self) -> bool {
        matches!(self, ReqBody::None | ReqBody::Length(0))
    }
}

pub struct Forward<'a> {
    pub req: &'a http::Request<()>,
    /// The target the upstream request carries (`:path`, normalized if
    /// `[server] normalize_path` changed it).
    pub target: &'a str,
    pub route: &'a RouteConfig,
    pub upstream: usize,
    pub body: ReqBody,
    /// Body bytes read to learn that a body exists.
    pub first: &'a mut Vec<u8>,
    pub id_header: &'a str,
    /// Received in 0-RTT early data: the origin is told (`Early-Data: 1`).
    pub early: bool,
    /// The client sent `expect: 100-continue`: the gateway answers it (the
    /// field is not forwarded) with a 100 before it waits for the body.
    pub expect_continue: bool,
}
