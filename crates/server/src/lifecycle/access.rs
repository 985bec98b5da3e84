//! The access log line of one request, written from its [`RequestCtx`]
//! straight into the shard's log buffer: no allocation, every field escaped
//! and bounded so a line stays under `access_log::MAX_LINE`.
//!
//! `json`: one object per line with every field. `combined`: exactly the
//! Apache/nginx combined format, so existing tools parse it; its byte count
//! is the whole response (head and body, Apache's `%O`).

use std::io::Write;
use std::time::Duration;

use shardgate_config::AccessLogFormat;

use super::context::Field;
use super::RequestCtx;
use crate::access_log::{escape, num, time};

/// Byte budgets of the escaped request strings (JSON escaping can make a
/// byte six): with the fixed fields they stay under `MAX_LINE` (8 KiB).
const PATH_BUDGET: usize = 3072;
const AGENT_BUDGET: usize = 1024;
const REFERER_BUDGET: usize = 1024;
const SHORT_BUDGET: usize = 256;

pub struct Line<'a> {
    pub rq: &'a RequestCtx,
    pub status: u16,
    pub took: Duration,
    pub route: &'a str,
    pub upstream: &'a str,
}

pub fn write(out: &mut Vec<u8>, format: AccessLogFormat, l: &Line<'_>) {
    match format {
        AccessLogFormat::Json => json(out, l),
        AccessLogFormat::Combined => combined(out, l),
    }
}

fn json(out: &mut Vec<u8>, l: &Line<'_>) {
    let rq = l.rq;
    let f = &rq.fields;
    out.extend_from_slice(b"{\"time\":\"");
    time::rfc3339_millis(out, rq.wall);
    out.extend_from_slice(b"\",\"client\":\"");
    ip(out, rq.client.ip());
    out.extend_from_slice(b"\",\"client_port\":");
    num::decimal(out, u64::from(rq.client.port()));
    str_field(out, "method", f.get(Field::Method), SHORT_BUDGET);
    str_field(out, "host", f.get(Field::Host), SHORT_BUDGET);
    str_field(out, "path", f.get(Field::Target), PATH_BUDGET);
    str_field(out, "protocol", rq.protocol.as_bytes(), SHORT_BUDGET);
    out.extend_from_slice(b",\"status\":");
    num::decimal(out, u64::from(l.status));
    out.extend_from_slice(b",\"bytes_received\":");
    num::decimal(out, rq.bytes_in);
    out.extend_from_slice(b",\"bytes_sent\":");
    num::decimal(out, rq.bytes_out);
    out.extend_from_slice(b",\"duration\":");
    seconds_micros(out, l.took);
    str_field(out, "route", l.route.as_bytes(), SHORT_BUDGET);
    if !l.upstream.is_empty() {
        str_field(out, "upstream", l.upstream.as_bytes(), SHORT_BUDGET);
    }
    if let Some(s) = rq.server {
        out.extend_from_slice(b",\"upstream_addr\":\"");
        let _ = write!(out, "{s}");
        out.push(b'"');
        out.extend_from_slice(b",\"upstream_attempts\":");
        num::decimal(out, u64::from(rq.attempts));
        out.extend_from_slice(b",\"upstream_reused\":");
        out.extend_from_slice(if rq.reused { b"true" } else { b"false" });
    }
    if let Some(c) = rq.connect {
        out.extend_from_slice(b",\"upstream_connect\":");
        seconds_micros(out, c);
    }
    if let Some(fb) = rq.first_byte {
        out.extend_from_slice(b",\"upstream_first_byte\":");
        seconds_micros(out, fb);
    }
    out.extend_from_slice(b",\"tls\":");
    match rq.tls_version {
        Some(v) => {
            out.extend_from_slice(b"true");
            str_field(out, "tls_version", v.as_bytes(), SHORT_BUDGET);
            if let Some(sni) = opt(f.get(Field::Sni)) {
                str_field(out, "sni", sni, SHORT_BUDGET);
            }
        }
        None => out.extend_from_slice(b"false"),
    }
    let id = if rq.request_id.is_generated {
        rq.request_id.generated()
    } else {
        f.get(Field::RequestId)
    };
    if !id.is_empty() {
        str_field(out, "request_id", id, SHORT_BUDGET);
    }
    if let Some(v) = opt(f.get(Field::UserAgent)) {
        str_field(out, "user_agent", v, AGENT_BUDGET);
    }
    if let Some(v) = opt(f.get(Field::Referer)) {
        str_field(out, "referer", v, REFERER_BUDGET);
    }
    if let Some(e) = rq.failure {
        str_field(out, "error", e.kind().name().as_bytes(), SHORT_BUDGET);
        str_field(out, "error_side", side(e.side()), SHORT_BUDGET);
        if let Some(n) = e.errno() {
            out.extend_from_slice(b",\"errno\":");
            num::decimal(out, u64::from(n.unsigned_abs()));
        }
    }
    out.push(b'}');
}

/// `host - - [time] "METHOD target PROTO" status bytes "referer" "agent"`.
fn combined(out: &mut Vec<u8>, l: &Line<'_>) {
    let rq = l.rq;
    let f = &rq.fields;
    ip(out, rq.client.ip());
    out.extend_from_slice(b" - - ");
    time::combined(out, rq.wall);
    out.extend_from_slice(b" \"");
    escape::combined(out, f.get(Field::Method), SHORT_BUDGET);
    out.push(b' ');
    escape::combined(out, f.get(Field::Target), PATH_BUDGET);
    out.push(b' ');
    out.extend_from_slice(rq.protocol.as_bytes());
    out.extend_from_slice(b"\" ");
    num::decimal(out, u64::from(l.status));
    out.push(b' ');
    num::decimal(out, rq.bytes_out);
    out.extend_from_slice(b" \"");
    dash_or(out, f.get(Field::Referer), REFERER_BUDGET);
    out.extend_from_slice(b"\" \"");
    dash_or(out, f.get(Field::UserAgent), AGENT_BUDGET);
    out.push(b'"');
}

fn str_field(out: &mut Vec<u8>, name: &str, value: &[u8], budget: usize) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":\"");
    escape::json(out, value, budget);
    out.push(b'"');
}

fn dash_or(out: &mut Vec<u8>, v: &[u8], budget: usize) {
    if v.is_empty() {
        out.push(b'-');
    } else {
        escape::combined(out, v, budget);
    }
}

fn opt(v: &[u8]) -> Option<&[u8]> {
    (!v.is_empty()).then_some(v)
}

fn side(s: shardgate_proxy::Side) -> &'static [u8] {
    match s {
        shardgate_proxy::Side::Downstream => b"client",
        shardgate_proxy::Side::Upstream => b"upstream",
        shardgate_proxy::Side::Internal => b"internal",
    }
}

/// An address without `fmt` for IPv4 (every request's client): four
/// decimals are cheaper than the formatting machinery.
fn ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                num::decimal(out, u64::from(o));
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Seconds with microsecond resolution: `0.000213`.
fn seconds_micros(out: &mut Vec<u8>, d: Duration) {
    num::decimal(out, d.as_secs());
    out.push(b'.');
    num::padded(out, u64::from(d.subsec_micros()), 6);
}
