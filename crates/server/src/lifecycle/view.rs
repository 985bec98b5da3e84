//! What a front end hands the lifecycle: the parts of a request head the
//! phases decide on, borrowed from wherever the front end parsed them.

use shardgate_config::ServerConfig;
use shardgate_http::BodyKind;

use crate::ctx::ShardCtx;

pub struct RequestView<'a> {
    pub method: &'a str,
    /// The host without port, lower-cased by the parser (None: no Host).
    pub host: Option<&'a str>,
    /// The request target as received (the access log's).
    pub target: &'a str,
    /// `target` normalized (`[server] normalize_path`, see [`normalize`])
    /// when that changed it: what is routed and forwarded.
    pub normalized: Option<&'a str>,
    pub body: BodyKind,
    /// `"HTTP/1.0"`, `"HTTP/1.1"`, `"HTTP/3"`.
    pub protocol: &'static str,
    /// The client's request-id header value, if it sent one.
    pub request_id: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub referer: Option<&'a [u8]>,
    /// Every header field, for the phases that look one up by name.
    pub headers: HeaderFields<'a>,
}

/// A request's header fields as its front end parsed them, borrowed.
#[derive(Clone, Copy)]
pub enum HeaderFields<'a> {
    H1(&'a [httparse::Header<'a>]),
    H3(&'a http::HeaderMap),
}

impl<'a> HeaderFields<'a> {
    /// The first `Some` that `f` gives for the values of the fields named
    /// `name` (lower-case), in order.
    pub fn find_map<T>(&self, name: &str, mut f: impl FnMut(&'a [u8]) -> Option<T>) -> Option<T> {
        match *self {
            HeaderFields::H1(list) => list
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .find_map(|h| f(h.value)),
            HeaderFields::H3(map) => map.get_all(name).iter().find_map(|v| f(v.as_bytes())),
        }
    }

    /// Calls `f(name, value)` for every field, in order (HTTP/3: names
    /// lower-case, the pseudo-fields not among them).
    pub fn each(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        match *self {
            HeaderFields::H1(list) => list.iter().for_each(|h| f(h.name.as_bytes(), h.value)),
            HeaderFields::H3(map) => map
                .iter()
                .for_each(|(n, v)| f(n.as_str().as_bytes(), v.as_bytes())),
        }
    }
}

impl<'a> RequestView<'a> {
    /// The path the router matches on: absolute-form targets reduced, and
    /// `OPTIONS *` (a question about the server as a whole, RFC 9112 §3.2.4)
    /// as its root, so the route that owns `/` forwards it as it came.
    pub fn path(&self) -> &'a str {
        match self.forwarded_target() {
            "*" => "/",
            t => shardgate_http::origin_form(t),
        }
    }

    /// The target the upstream request carries: normalized, if it was.
    pub fn forwarded_target(&self) -> &'a str {
        self.normalized.unwrap_or(self.target)
    }

    /// Picks the optional fields out of an HTTP/1.1 header list in one pass.
    pub fn with_h1_fields(mut self, headers: &'a [httparse::Header<'a>], id_header: &str) -> Self {
        for h in headers {
            if h.name.eq_ignore_ascii_case("user-agent") {
                self.user_agent = Some(h.value);
            } else if h.name.eq_ignore_ascii_case("referer") {
                self.referer = Some(h.value);
            } else if !id_header.is_empty() && h.name.eq_ignore_ascii_case(id_header) {
                // Two id fields name no one id: as an empty one, it is
                // replaced by a generated id (both go), so the access log
                // and the origin agree.
                self.request_id = Some(if self.request_id.is_some() {
                    b""
                } else {
                    h.value
                });
            }
        }
        self
    }
}

/// `target` normalized as `[server] normalize_path` and `merge_slashes`
/// say (RFC 3986 §6.2.2, `shardgate_http::normalize_target`), when that
/// changes it. The copy goes into a pooled buffer taken into `scratch`
/// (the caller gives it back): an uncommon request, and no allocation.
pub fn normalize<'s>(
    ctx: &ShardCtx,
    server: &ServerConfig,
    target: &str,
    scratch: &'s mut Option<Vec<u8>>,
) -> Option<&'s str> {
    if !server.normalize_path || !shardgate_http::needs_normalizing(target, server.merge_slashes) {
        return None;
    }
    let buf = scratch.get_or_insert_with(|| ctx.buffers.take());
    if !shardgate_http::normalize_target(target, server.merge_slashes, buf) {
        return None;
    }
    // Decoded escapes are unreserved ASCII: the copy stays UTF-8.
    std::str::from_utf8(buf).ok()
}
