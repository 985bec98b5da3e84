//! Which fields cross the proxy, after the route's edits.
//!
//! A message's fields are its received (or configured) ones minus what must not
//! be forwarded, then the route's `remove → set → add` edits. The result is never
//! materialised: [`Fields`] walks it on demand, so writing a head allocates nothing
//! and the handful of extra passes over ~20 borrowed fields costs less than a copy.

use httparse::Header;
use shardgate_config::HeaderRewrite;

use super::wire::{is_field_value, is_token, trim_ows};

/// The names the rewrite singles out. RFC 9110 §7.6.1's connection-specific
/// fields plus the legacy ones proxies still see are [`Name::HopByHop`]: they
/// describe one hop and must not be forwarded (`http2-settings` belongs to the
/// h2c upgrade, RFC 7540 §3.2.1, which is never forwarded).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Name {
    HopByHop,
    ContentLength,
    Expect,
    Host,
    Other,
}

#[inline]
pub(crate) fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Which of the singled-out names `name` is. Every field of every head passes
/// here (twice per proxied request), so the length picks the one or two
/// candidates to compare instead of a comparison per listed name: that was
/// ≈5 % of a keep-alive request's instructions (performance.md, step 32).
#[inline]
pub(crate) fn classify(name: &[u8]) -> Name {
    let is = |known: &[u8]| eq_ci(name, known);
    match name.len() {
        2 if is(b"te") => Name::HopByHop,
        4 if is(b"host") => Name::Host,
        6 if is(b"expect") => Name::Expect,
        7 if is(b"upgrade") || is(b"trailer") => Name::HopByHop,
        10 if is(b"connection") || is(b"keep-alive") => Name::HopByHop,
        14 if is(b"content-length") => Name::ContentLength,
        14 if is(b"http2-settings") => Name::HopByHop,
        16 if is(b"proxy-connection") => Name::HopByHop,
        17 if is(b"transfer-encoding") => Name::HopByHop,
        _ => Name::Other,
    }
}

pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    classify(name) == Name::HopByHop
}

/// Names a request may not carry across: hop-by-hop, the framing we rewrite
/// (`content-length`), `expect` (the gateway answers 100-continue itself) and
/// `host` (written once, first, by the request writer).
pub(crate) fn request_protected(name: &[u8]) -> bool {
    classify(name) != Name::Other
}

/// Names a response may not carry across: hop-by-hop and the framing we rewrite.
pub(crate) fn response_protected(name: &[u8]) -> bool {
    matches!(classify(name), Name::HopByHop | Name::ContentLength)
}

/// Whether a `Connection` field of `headers` lists `name` (RFC 9110 §7.6.1: the
/// sender declares those fields hop-by-hop too).
pub(crate) fn nominated(headers: &[Header<'_>], name: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| eq_ci(h.name.as_bytes(), b"connection"))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .map(trim_ows)
        .any(|token| !token.is_empty() && eq_ci(token, name))
}

/// The fields a message starts from.
#[derive(Clone, Copy)]
pub(crate) enum Base<'a> {
    /// Received from a peer: `Connection` nominations apply.
    Parsed(&'a [Header<'a>]),
    /// From the config (static responses).
    Configured(&'a [(String, String)]),
}

#[derive(Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub(crate) base: Base<'a>,
    pub(crate) edits: &'a HeaderRewrite,
    pub(crate) protected: fn(&[u8]) -> bool,
}

impl<'a> Fields<'a> {
    /// Calls `f(name, value)` for every field that crosses, in order: surviving base
    /// fields (names as received, values trimmed), then `set`, then `add`.
    /// Configured entries that could not be written safely (bad name, control
    /// characters in the value) or that would touch protected names are skipped:
    /// config validation should reject them, and the head must stay well-formed
    /// whatever it let through.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&'a [u8], &'a [u8])) {
        let edits = self.edits;
        let kept = |name: &[u8]| {
            !(self.protected)(name)
                && !edits.remove.iter().any(|r| eq_ci(r.as_bytes(), name))
                && !edits.set.iter().any(|(s, _)| eq_ci(s.as_bytes(), name))
        };
        match self.base {
            Base::Parsed(headers) => {
                // Browsers send `Connection: keep-alive`; `close` and `upgrade` are
                // common too. Those tokens name nothing that is not dropped anyway,
                // so only another token makes the per-field check (a scan of every
                // header per field) necessary: one scan here keeps the usual head
                // linear.
                let nominates_more = headers
                    .iter()
                    .filter(|h| eq_ci(h.name.as_bytes(), b"connection"))
                    .flat_map(|h| h.value.split(|&b| b == b','))
                    .map(trim_ows)
                    .any(|t| !t.is_empty() && !eq_ci(t, b"close") && !is_hop_by_hop(t));
                for h in headers {
                    let name = h.name.as_bytes();
                    if kept(name) && !(nominates_more && nominated(headers, name)) {
                        f(name, trim_ows(h.value));
                    }
                }
            }
            Base::Configured(pairs) => {
                for (n, v) in pairs {
                    let (name, value) = (n.as_bytes(), trim_ows(v.as_bytes()));
                    if kept(name) && writable(name, value) {
                        f(name, value);
                    }
                }
            }
        }
        for (n, v) in edits.set.iter().chain(&edits.add) {
            let (name, value) = (n.as_bytes(), trim_ows(v.as_bytes()));
            if !(self.protected)(name) && writable(name, value) {
                f(name, value);
            }
        }
    }

    /// Calls `f(value)` for each crossing field named `name`.
    pub(crate) fn for_each_named(&self, name: &[u8], mut f: impl FnMut(&'a [u8])) {
        self.for_each(|n, v| {
            if eq_ci(n, name) {
                f(v);
            }
        });
    }
}

fn writable(name: &[u8], value: &[u8]) -> bool {
    is_token(name) && is_field_value(value)
}

/// The last `set` value for `name` that can be written, if the route sets it.
pub(crate) fn set_value<'a>(edits: &'a HeaderRewrite, name: &[u8]) -> Option<&'a [u8]> {
    edits
        .set
        .iter()
        .rev()
        .map(|(n, v)| (n.as_bytes(), trim_ows(v.as_bytes())))
        .find(|&(n, v)| eq_ci(n, name) && is_field_value(v))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::pairs;

    fn collect(fields: &Fields<'_>) -> Vec<(String, String)> {
        let mut v = Vec::new();
        fields.for_each(|n, val| {
            v.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(val.to_vec()).unwrap(),
            ))
        });
        v
    }

    fn h<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name,
            value: value.as_bytes(),
        }
    }

    #[test]
    fn hop_by_hop_names() {
        for name in [
            "Connection",
            "PROXY-CONNECTION",
            "keep-alive",
            "TE",
            "Transfer-Encoding",
            "upgrade",
            "Trailer",
        ] {
            assert!(is_hop_by_hop(name.as_bytes()), "{name}");
        }
        for name in [
            "Host",
            "Content-Length",
            "trailers",
            "tE2",
            "x-connection",
            "",
        ] {
            assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn protected_names_by_message() {
        // Every singled-out name, in odd case, and a same-length neighbour of
        // each that is not one (the classifier goes by length first).
        let cases: [(&str, Name); 12] = [
            ("HTTP2-Settings", Name::HopByHop),
            ("Content-LENGTH", Name::ContentLength),
            ("EXPECT", Name::Expect),
            ("hOST", Name::Host),
            ("Trailer", Name::HopByHop),
            ("KEEP-alive", Name::HopByHop),
            ("te", Name::HopByHop),
            ("content-lengtH", Name::ContentLength),
            ("content-type00", Name::Other),
            ("hosts", Name::Other),
            ("expec", Name::Other),
            ("transfer-encodinG", Name::HopByHop),
        ];
        for (name, want) in cases {
            assert_eq!(classify(name.as_bytes()), want, "{name}");
        }
        for (name, req, resp) in [
            ("Host", true, false),
            ("expect", true, false),
            ("Content-Length", true, true),
            ("connection", true, true),
            ("Proxy-Connection", true, true),
            ("x-request-id", false, false),
            ("Date", false, false),
            ("Upgrades", false, false),
        ] {
            assert_eq!(request_protected(name.as_bytes()), req, "{name}");
            assert_eq!(response_protected(name.as_bytes()), resp, "{name}");
        }
    }

    #[test]
    fn nomination_trims_tabs_and_reads_only_connection_fields() {
        let hs = [
            h("Host", "x-foo"),
            h("connection", "keep-alive ,\tX-Foo"),
            h("Connection", "x-bar"),
        ];
        assert!(nominated(&hs, b"x-foo"));
        assert!(nominated(&hs, b"X-BAR"));
        assert!(nominated(&hs, b"Keep-Alive"));
        assert!(!nominated(&hs, b"x-fo"));
        assert!(!nominated(&hs, b"host"));
        assert!(!nominated(&[], b"close"));
    }

    #[test]
    fn nomination_is_case_insensitive_and_spans_fields() {
        let hs = [
            h("Connection", "close, X-Secret"),
            h("connection", " , x-other ,"),
        ];
        assert!(nominated(&hs, b"x-secret"));
        assert!(nominated(&hs, b"X-OTHER"));
        assert!(!nominated(&hs, b"x-sec"));
        assert!(!nominated(&hs, b""));
        assert!(!nominated(&[h("X-Connection", "a")], b"a"));
    }

    #[test]
    fn edits_apply_remove_set_add() {
        let hs = [
            h("Accept", "*/*"),
            h("X-Drop", "1"),
            h("X-Replace", "old"),
            h("x-replace", "old2"),
            h("X-Keep", "  spaced \t"),
            h("Connection", "x-nominated"),
            h("X-Nominated", "gone"),
            h("Transfer-Encoding", "chunked"),
        ];
        let edits = HeaderRewrite {
            remove: vec!["x-drop".into()],
            set: pairs(&[("X-Replace", "new"), ("Content-Length", "5")]),
            add: pairs(&[
                ("X-Added", "a"),
                ("x-keep", "another"),
                ("Bad Name", "x"),
                ("X-Inject", "a\r\nb: c"),
                ("Upgrade", "h2c"),
            ]),
        };
        let f = Fields {
            base: Base::Parsed(&hs),
            edits: &edits,
            protected: request_protected,
        };
        assert_eq!(
            collect(&f),
            pairs(&[
                ("Accept", "*/*"),
                ("X-Keep", "spaced"),
                ("X-Replace", "new"),
                ("X-Added", "a"),
                ("x-keep", "another"),
            ])
        );
        let mut dropped = 0;
        f.for_each_named(b"x-drop", |_| dropped += 1);
        assert_eq!(dropped, 0);
        let mut keeps = Vec::new();
        f.for_each_named(b"X-KEEP", |v| keeps.push(v.to_vec()));
        assert_eq!(keeps, [b"spaced".to_vec(), b"another".to_vec()]);
    }

    #[test]
    fn configured_base_is_checked() {
        let base = pairs(&[
            ("Content-Type", "text/plain"),
            ("X-Bad", "a\nb"),
            ("Via", "x"),
        ]);
        let edits = HeaderRewrite {
            remove: vec!["via".into()],
            ..HeaderRewrite::default()
        };
        let f = Fields {
            base: Base::Configured(&base),
            edits: &edits,
            protected: response_protected,
        };
        assert_eq!(collect(&f), pairs(&[("Content-Type", "text/plain")]));
    }

    #[test]
    fn last_set_wins_for_single_valued_lookups() {
        let edits = HeaderRewrite {
            set: pairs(&[("Host", "a"), ("host", " b "), ("HOST", "c\r\n")]),
            ..HeaderRewrite::default()
        };
        assert_eq!(set_value(&edits, b"host"), Some(&b"b"[..]));
        assert_eq!(set_value(&edits, b"x"), None);
    }
}
