//! The upstream's response head, turned into the client-facing head while it is
//! still borrowed from the upstream read buffer.

use shardgate_config::RouteConfig;
use shardgate_http::{parse_response, switch_was_offered, BodyKind, HeaderStore, Limits, Parsed};
use shardgate_proxy::{write_downstream_response, Framing};

pub struct RespMeta {
    pub status: u16,
    pub head_len: usize,
    /// How the upstream frames the body.
    pub body: BodyKind,
    /// The upstream connection may be reused after this response.
    pub upstream_keep_alive: bool,
    /// The client connection stays open after this response.
    pub client_keep_alive: bool,
    /// 101 to an upgrade request: the connection becomes a tunnel.
    pub switching: bool,
    /// A 1xx other than 101: forward it and read the next head.
    pub interim: bool,
    /// The body arrives chunked but the client speaks HTTP/1.0: strip the
    /// chunk framing and end the body by closing.
    pub dechunk: bool,
}

pub struct RespInput<'a> {
    pub data: &'a [u8],
    pub limits: &'a Limits,
    pub route: &'a RouteConfig,
    pub request_was_head: bool,
    /// The protocols the request offered in `Upgrade` (None: no upgrade).
    pub request_upgrade: Option<&'a [u8]>,
    pub client_http10: bool,
    /// The client wants (and may have) a persistent connection.
    pub client_keep_alive: bool,
    /// Appends the current `date` value, for a response without one.
    pub date: &'a dyn Fn(&mut Vec<u8>),
}

pub enum RespStep {
    Ready(RespMeta),
    Partial,
    /// The upstream sent something that is not a valid response head.
    Invalid,
}

pub fn prepare_response(input: RespInput<'_>, out: &mut Vec<u8>) -> RespStep {
    let mut store = HeaderStore::new();
    let head = match parse_response(input.data, input.limits, &mut store, input.request_was_head) {
        Ok(Parsed::Complete(h)) => h,
        Ok(Parsed::Partial) => return RespStep::Partial,
        Err(_) => return RespStep::Invalid,
    };
    out.clear();
    let status = head.status;
    if status == 101 {
        // Only to a protocol the client offered (RFC 9110 §7.8).
        let upgrade = header(head.headers, "upgrade");
        let offered = input
            .request_upgrade
            .zip(upgrade)
            .is_some_and(|(o, u)| switch_was_offered(o, u.as_bytes()));
        if !offered {
            return RespStep::Invalid;
        }
        write_downstream_response(
            out,
            status,
            head.reason,
            head.headers,
            input.route,
            Framing::None,
            true,
            upgrade,
            input.date,
        );
        return RespStep::Ready(RespMeta {
            status,
            head_len: head.head_len,
            body: BodyKind::None,
            upstream_keep_alive: false,
            client_keep_alive: false,
            switching: true,
            interim: false,
            dechunk: false,
        });
    }
    if (100..200).contains(&status) {
        write_downstream_response(
            out,
            status,
            head.reason,
            head.headers,
            input.route,
            Framing::None,
            true,
            None,
            input.date,
        );
        return RespStep::Ready(RespMeta {
            status,
            head_len: head.head_len,
            body: BodyKind::None,
            upstream_keep_alive: true,
            client_keep_alive: true,
            switching: false,
            interim: true,
            dechunk: false,
        });
    }
    let framing = match head.body {
        // HEAD and 304 carry the framing headers of the representation but no
        // body: pass the advertised length on.
        BodyKind::None if input.request_was_head || status == 304 => advertised(head.headers),
        BodyKind::None => Framing::None,
        BodyKind::Length(n) => Framing::Length(n),
        BodyKind::Chunked if input.client_http10 => Framing::None,
        BodyKind::Chunked => Framing::Chunked,
        BodyKind::CloseDelimited => Framing::None,
    };
    let dechunk = input.client_http10 && head.body == BodyKind::Chunked;
    let client_keep_alive =
        input.client_keep_alive && head.body != BodyKind::CloseDelimited && !dechunk;
    write_downstream_response(
        out,
        status,
        head.reason,
        head.headers,
        input.route,
        framing,
        client_keep_alive,
        None,
        input.date,
    );
    if client_keep_alive && input.client_http10 {
        // HTTP/1.0 clients only keep the connection when told so explicitly.
        out.truncate(out.len().saturating_sub(2));
        out.extend_from_slice(b"connection: keep-alive\r\n\r\n");
    }
    RespStep::Ready(RespMeta {
        status,
        head_len: head.head_len,
        body: head.body,
        upstream_keep_alive: head.keep_alive,
        client_keep_alive,
        switching: false,
        interim: false,
        dechunk,
    })
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
}

/// The framing a body-less response announces for its representation.
fn advertised(headers: &[httparse::Header<'_>]) -> Framing {
    if let Some(v) = header(headers, "content-length") {
        if let Ok(n) = v.trim().parse::<u64>() {
            return Framing::Length(n);
        }
    }
    if header(headers, "transfer-encoding").is_some() {
        return Framing::Chunked;
    }
    Framing::None
}
