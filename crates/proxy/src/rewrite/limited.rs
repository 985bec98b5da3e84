//! The answer to a rate-limited request: the configured status, `Retry-After`,
//! and the IETF httpapi `RateLimit-Policy` / `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers-11: Structured Field lists of
//! quoted policy names with parameters).
//!
//! Written into the caller's buffer like every other head: no allocation.

use shardgate_config::RateLimitConfig;

use super::wire::{put, put_field, put_status_line, put_u64};
use crate::status::reason;

/// What the limited request's answer says.
pub struct Limited<'a> {
    /// The route's name: policies are called `"<route>-<rule index>"`.
    pub route: &'a str,
    /// All the route's rules (each one is a policy the client is under).
    pub rules: &'a [RateLimitConfig],
    /// The rule that refused the request.
    pub rule: usize,
    /// Whole seconds until that rule admits a request again (at least 1).
    pub retry_after: u64,
}

/// Writes the whole answer (head, and the body unless `head_only`).
pub fn write_limited_response(
    out: &mut Vec<u8>,
    limited: &Limited<'_>,
    keep_alive: bool,
    head_only: bool,
    date: &[u8],
) {
    let Some(rule) = limited.rules.get(limited.rule) else {
        return;
    };
    let status = rule.status;
    let phrase = reason(status);
    put_status_line(out, status, phrase, 429);
    put_field(out, b"server", b"shardgate");
    if !date.is_empty() {
        put_field(out, b"date", date);
    }
    put(out, b"retry-after: ");
    put_u64(out, limited.retry_after);
    put(out, b"\r\nratelimit-policy: ");
    for (i, r) in limited.rules.iter().enumerate() {
        if i > 0 {
            put(out, b", ");
        }
        put_policy_name(out, limited.route, i);
        put(out, b";q=");
        put_u64(out, u64::from(r.rate.count));
        put(out, b";w=");
        put_u64(out, r.rate.per.as_secs().max(1));
        // A vendor parameter (the draft's advice for implementation-specific
        // ones): how many requests the quota admits at once.
        put(out, b";shardgate-burst=");
        put_u64(out, u64::from(r.burst));
    }
    // The refusing policy: nothing left for `t` seconds.
    put(out, b"\r\nratelimit: ");
    put_policy_name(out, limited.route, limited.rule);
    put(out, b";r=0;t=");
    put_u64(out, limited.retry_after);
    put(
        out,
        b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ",
    );
    let custom = rule.body.as_deref().map(str::as_bytes);
    let default_len =
        3 + if phrase.is_empty() {
            0
        } else {
            1 + phrase.len()
        } + 1;
    put_u64(out, custom.map_or(default_len, <[u8]>::len) as u64);
    put(out, b"\r\n");
    if !keep_alive {
        put(out, b"connection: close\r\n");
    }
    put(out, b"\r\n");
    if head_only {
        return;
    }
    match custom {
        Some(body) => put(out, body),
        None => {
            // "429 Too Many Requests\n", as the gateway's other answers.
            put_u64(out, u64::from(status));
            if !phrase.is_empty() {
                put(out, b" ");
                put(out, phrase.as_bytes());
            }
            put(out, b"\n");
        }
    }
}

/// `"<route>-<index>"` as a Structured Field String (RFC 9651 §3.3.3):
/// `"` and `\` escaped, anything outside printable ASCII left out.
fn put_policy_name(out: &mut Vec<u8>, route: &str, index: usize) {
    put(out, b"\"");
    for &b in route.as_bytes() {
        match b {
            b'"' | b'\\' => put(out, &[b'\\', b]),
            0x20..=0x7e => put(out, &[b]),
            _ => {}
        }
    }
    put(out, b"-");
    put_u64(out, index as u64);
    put(out, b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_config::{Rate, RateLimitBackend, RateLimitKey, Sharing};
    use std::time::Duration;

    fn rule(count: u32, per: u64, burst: u32, body: Option<&str>) -> RateLimitConfig {
        RateLimitConfig {
            key: RateLimitKey::ClientIp,
            rate: Rate {
                count,
                per: Duration::from_secs(per),
            },
            burst,
            status: 429,
            body: body.map(String::from),
            sharing: Sharing::Atomic,
            table_size: 64,
            backend: RateLimitBackend::Local,
        }
    }

    #[test]
    fn headers_name_every_policy_and_the_one_that_refused() {
        let rules = [rule(100, 1, 20, None), rule(6000, 60, 100, None)];
        let mut out = Vec::new();
        let l = Limited {
            route: "api",
            rules: &rules,
            rule: 1,
            retry_after: 3,
        };
        write_limited_response(&mut out, &l, true, false, b"D");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 429 Too Many Requests\r\nserver: shardgate\r\ndate: D\r\nretry-after: 3\r\n\
             ratelimit-policy: \"api-0\";q=100;w=1;shardgate-burst=20, \"api-1\";q=6000;w=60;shardgate-burst=100\r\n\
             ratelimit: \"api-1\";r=0;t=3\r\n\
             content-type: text/plain; charset=utf-8\r\ncontent-length: 22\r\n\r\n\
             429 Too Many Requests\n"
        );
    }

    #[test]
    fn custom_body_head_only_and_close() {
        let rules = [rule(1, 3600, 1, Some("go away"))];
        let mut out = Vec::new();
        let l = Limited {
            route: "route[0]\"x",
            rules: &rules,
            rule: 0,
            retry_after: 3600,
        };
        write_limited_response(&mut out, &l, false, true, b"");
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("ratelimit-policy: \"route[0]\\\"x-0\";q=1;w=3600;"),
            "{text}"
        );
        assert!(
            text.contains("content-length: 7\r\nconnection: close\r\n\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"), "HEAD: no body: {text}");
        let mut out = Vec::new();
        write_limited_response(&mut out, &l, true, false, b"");
        assert!(out.ends_with(b"\r\n\r\ngo away"));
        // A rule index out of range writes nothing rather than panic.
        let mut out = Vec::new();
        let bad = Limited { rule: 5, ..l };
        write_limited_response(&mut out, &bad, true, false, b"");
        assert!(out.is_empty());
    }
}
