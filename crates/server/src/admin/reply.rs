//! An admin response and its encoding (always `connection: close`).

pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json";

pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// For 405: the methods the path takes.
    pub allow: Option<&'static str>,
    /// For 401: ask for a bearer token.
    pub challenge: bool,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: TEXT,
            body: body.into(),
            allow: None,
            challenge: false,
        }
    }

    /// `value` as one line of JSON.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        let mut body = value.to_string();
        body.push('\n');
        Reply {
            status,
            content_type: JSON,
            body,
            allow: None,
            challenge: false,
        }
    }

    /// `body` is JSON already (rendered by hand, see `upstreams`).
    pub fn json_text(status: u16, body: String) -> Reply {
        Reply {
            content_type: JSON,
            ..Reply::text(status, body)
        }
    }

    /// Status line, headers and (unless `head_only`: a HEAD gets the GET's
    /// headers, content-length included, and no body) the body.
    pub fn encode(&self, head_only: bool) -> Vec<u8> {
        let mut extra = String::new();
        if let Some(allow) = self.allow {
            extra.push_str("allow: ");
            extra.push_str(allow);
            extra.push_str("\r\n");
        }
        if self.challenge {
            extra.push_str("www-authenticate: Bearer realm=\"shardgate-admin\"\r\n");
        }
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_only_keeps_the_length_and_drops_the_body() {
        let r = Reply::text(200, "ok\n");
        let full = String::from_utf8(r.encode(false)).unwrap();
        let head = String::from_utf8(r.encode(true)).unwrap();
        assert!(full.ends_with("\r\n\r\nok\n"), "{full}");
        assert!(head.contains("content-length: 3\r\n") && head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn challenge_and_allow_become_headers() {
        let mut r = Reply::text(401, "");
        r.challenge = true;
        r.allow = Some("POST");
        let text = String::from_utf8(r.encode(false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("\r\nallow: POST\r\n"), "{text}");
        assert!(text.contains("\r\nwww-authenticate: Bearer"), "{text}");
    }
}
