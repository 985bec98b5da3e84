//! What a front end hands the lifecycle: the parts of a request head the
//! phases decide on, borrowed from wherever the front end parsed them.

use shardgate_http::BodyKind;

pub struct RequestView<'a> {
    pub method: &'a str,
    /// The host without port, lower-cased by the parser (None: no Host).
    pub host: Option<&'a str>,
    /// The request target as received (origin form for the router).
    pub target: &'a str,
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
        match self.target {
            "*" => "/",
            t => shardgate_http::origin_form(t),
        }
    }

    /// Picks the optional fields out of an HTTP/1.1 header list in one pass.
    pub fn with_h1_fields(mut self, headers: &'a [httparse::Header<'a>], id_header: &str) -> Self {
        for h in headers {
            if h.name.eq_ignore_ascii_case("user-agent") {
                self.user_agent = Some(h.value);
            } else if h.name.eq_ignore_ascii_case("referer") {
                self.referer = Some(h.value);
            } else if !id_header.is_empty() && h.name.eq_ignore_ascii_case(id_header) {
                self.request_id = Some(h.value);
            }
        }
        self
    }
}
