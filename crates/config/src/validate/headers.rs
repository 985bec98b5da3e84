//! Header edits (`request_headers`, `response_headers`) and the headers of a
//! static `respond`.
//!
//! Names must be RFC 9110 tokens and values valid field values, because they are
//! written to the wire verbatim: a CR or LF in a value would be response
//! splitting. Hop-by-hop and framing headers are the proxy's own business; an
//! edit that touched them could desynchronise message framing (smuggling).

use serde_spanned::Spanned;

use super::value::at;
use crate::document::join_key;
use crate::model::HeaderRewrite;
use crate::raw::{HeaderMap, RawHeaderRewrite};
use crate::report::Report;

/// Headers that describe one connection or the framing of one message
/// (RFC 9110 §7.6.1, RFC 9112 §6–7): the proxy writes them itself.
const MANAGED: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "content-length",
];

/// Headers by which the proxy reads a message's length: removing them from a
/// forwarded message would make the next hop misread where it ends.
const FRAMING: [&str; 2] = ["content-length", "transfer-encoding"];

/// What a static response may not carry: the gateway derives them from `body`
/// and from the client connection.
const RESPOND_MANAGED: [&str; 3] = ["content-length", "transfer-encoding", "connection"];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

pub(crate) fn rewrite(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawHeaderRewrite>>,
    base: &str,
    side: Side,
) -> HeaderRewrite {
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return HeaderRewrite::default();
    };
    let mut out = HeaderRewrite::default();
    for (k, name) in raw
        .remove
        .iter()
        .flat_map(|l| l.get_ref().0.iter().enumerate())
    {
        let key = format!("{base}.remove[{k}]");
        let lower = name.get_ref().to_ascii_lowercase();
        if !field_name(r, name, &key) {
            continue;
        }
        if FRAMING.contains(&lower.as_str()) {
            r.error(
                at(name),
                key,
                format!("cannot remove `{lower}`: the proxy frames the message by it"),
            );
        } else if side == Side::Request && lower == "host" {
            r.error(
                at(name),
                key,
                "cannot remove `host`: an HTTP/1.1 request must carry one (RFC 9112 §3.2)",
            );
        }
        out.remove.push(lower);
    }
    out.set = edits(r, raw.set.as_ref(), &format!("{base}.set"), |lower| {
        MANAGED.contains(&lower).then(|| managed_message(lower))
    });
    // `set` of a name twice cannot mean anything; `add` twice is not expressible
    // apart from letter case, which is the same header.
    duplicates(r, raw.set.as_ref(), &format!("{base}.set"));
    out.add = edits(r, raw.add.as_ref(), &format!("{base}.add"), |lower| {
        if MANAGED.contains(&lower) {
            Some(managed_message(lower))
        } else if side == Side::Request && lower == "host" {
            Some(
                "cannot add `host`: a second Host field makes the request invalid (RFC 9112 §3.2); use `set`"
                    .to_string(),
            )
        } else {
            None
        }
    });
    out
}

pub(crate) fn respond_headers(
    r: &mut Report<'_>,
    raw: Option<&Spanned<HeaderMap>>,
    base: &str,
) -> Vec<(String, String)> {
    edits(r, raw, base, |lower| {
        RESPOND_MANAGED.contains(&lower).then(|| {
            format!("cannot set `{lower}` on a static response: the gateway writes it from `body` and the connection")
        })
    })
}

/// Whether the proxy writes this (lower-case) header itself.
pub(crate) fn is_managed(lower: &str) -> bool {
    MANAGED.contains(&lower)
}

fn managed_message(lower: &str) -> String {
    format!("cannot set `{lower}`: hop-by-hop and framing headers are managed by the proxy")
}

/// Checks name/value pairs; `forbidden` returns a message for a lower-cased
/// name that may not appear. Names keep the case written (it goes on the wire).
fn edits(
    r: &mut Report<'_>,
    raw: Option<&Spanned<HeaderMap>>,
    base: &str,
    forbidden: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in raw.iter().flat_map(|m| m.get_ref().0.iter()) {
        let key = join_key(base, name.get_ref());
        if field_name(r, name, &key) {
            if let Some(message) = forbidden(&name.get_ref().to_ascii_lowercase()) {
                r.error(at(name), &key, message);
            }
        }
        field_value(r, value, &key);
        out.push((name.get_ref().clone(), value.get_ref().clone()));
    }
    out
}

fn duplicates(r: &mut Report<'_>, raw: Option<&Spanned<HeaderMap>>, base: &str) {
    let pairs = raw.map_or(&[][..], |m| m.get_ref().0.as_slice());
    for (i, (name, _)) in pairs.iter().enumerate() {
        let earlier = pairs.iter().take(i).map(|(n, _)| n.get_ref());
        if let Some(first) = earlier
            .into_iter()
            .find(|n| n.eq_ignore_ascii_case(name.get_ref()))
        {
            r.error(
                at(name),
                join_key(base, name.get_ref()),
                format!(
                    "header {:?} is already set as {first:?} (names are case-insensitive)",
                    name.get_ref()
                ),
            );
        }
    }
}

/// RFC 9110 §5.1: `field-name = token`.
pub(crate) fn field_name(r: &mut Report<'_>, name: &Spanned<String>, key: &str) -> bool {
    let text = name.get_ref();
    let message = if text.is_empty() {
        "empty header name".to_string()
    } else if let Some(c) = text.chars().find(|&c| !is_tchar(c)) {
        format!("{text:?} is not a valid header name: {c:?} is not allowed (RFC 9110 §5.1)")
    } else {
        return true;
    };
    r.error(at(name), key, message);
    false
}

/// RFC 9110 §5.5: visible characters, spaces and tabs inside, no controls,
/// nothing leading or trailing that a recipient would strip.
fn field_value(r: &mut Report<'_>, value: &Spanned<String>, key: &str) {
    let text = value.get_ref();
    let message = if text.contains(['\r', '\n', '\0']) {
        "header value contains CR, LF or NUL (that would split the message)".to_string()
    } else if let Some(c) = text.chars().find(|&c| c != '\t' && c.is_ascii_control()) {
        format!("header value contains the control character {c:?}")
    } else if text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']) {
        "header value has leading or trailing whitespace (RFC 9110 §5.5)".to_string()
    } else {
        return;
    };
    r.error(at(value), key, message);
}

/// `tchar` of RFC 9110 §5.6.2.
pub(crate) fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_set_matches_rfc_9110() {
        for c in "!#$%&'*+-.^_`|~azAZ09".chars() {
            assert!(is_tchar(c), "{c:?}");
        }
        for c in "\"(),/:;<=>?@[\\]{} \t\u{7f}é".chars() {
            assert!(!is_tchar(c), "{c:?}");
        }
    }
}
