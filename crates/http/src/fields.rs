//! The header fields that decide framing and connection handling, read in
//! one pass over the parsed headers. Duplicates and list forms are where
//! parsers disagree, so every ambiguous shape is an error here.

use httparse::Header;

use crate::error::Error;

/// What the `Transfer-Encoding` fields (all of them, as one list) amount to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransferEncoding {
    Absent,
    /// Exactly one coding in total, and it is `chunked`.
    Chunked,
    /// Codings before a final `chunked`: well-formed but not supported (501).
    Unsupported,
    /// Chunked not final, applied twice, or unparsable: the body length
    /// cannot be determined (RFC 9112 §6.3 says 400).
    Invalid,
}

/// The framing- and connection-relevant fields of one head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fields<'b> {
    pub content_length: Option<u64>,
    pub transfer_encoding: TransferEncoding,
    /// `Connection` lists `close`.
    pub close: bool,
    /// `Connection` lists `keep-alive`.
    pub keep_alive: bool,
    /// `Connection` lists `upgrade`.
    pub connection_upgrade: bool,
    pub host: Option<&'b [u8]>,
    /// Some `Expect` field is present.
    pub expect: bool,
    /// Every `Expect` field is exactly `100-continue`.
    pub expect_only_continue: bool,
    pub upgrade: Option<&'b [u8]>,
}

pub(crate) fn collect<'b>(headers: &[Header<'b>]) -> Result<Fields<'b>, Error> {
    let mut fields = Fields {
        content_length: None,
        transfer_encoding: TransferEncoding::Absent,
        close: false,
        keep_alive: false,
        connection_upgrade: false,
        host: None,
        expect: false,
        expect_only_continue: true,
        upgrade: None,
    };
    let mut te = TeList::default();
    for header in headers {
        let name = header.name;
        let value = header.value;
        // By length first: one comparison per field instead of one per
        // known name, for every field of every head (performance.md, step 32).
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        match name.len() {
            14 if is("content-length") => {
                if fields.content_length.is_some() {
                    return Err(Error::Malformed("duplicate Content-Length"));
                }
                fields.content_length = Some(parse_content_length(value)?);
            }
            17 if is("transfer-encoding") => te.add(value),
            10 if is("connection") => {
                for token in list_elements(value) {
                    if token.is_empty() {
                        continue;
                    }
                    if !is_token(token) {
                        return Err(Error::Malformed("invalid Connection option"));
                    }
                    fields.close |= token.eq_ignore_ascii_case(b"close");
                    fields.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    fields.connection_upgrade |= token.eq_ignore_ascii_case(b"upgrade");
                }
            }
            4 if is("host") => {
                if fields.host.is_some() {
                    return Err(Error::Malformed("duplicate Host"));
                }
                fields.host = Some(value);
            }
            6 if is("expect") => {
                fields.expect = true;
                fields.expect_only_continue &= value.eq_ignore_ascii_case(b"100-continue");
            }
            7 if is("upgrade") => {
                // One field keeps `upgrade` a borrowed &str; a split list is
                // legal but unseen in practice, so refuse it rather than guess.
                if fields.upgrade.is_some() {
                    return Err(Error::Malformed("duplicate Upgrade"));
                }
                fields.upgrade = Some(value);
            }
            _ => {}
        }
    }
    fields.transfer_encoding = te.finish();
    Ok(fields)
}

/// Folds the `Transfer-Encoding` list across fields without storing it.
#[derive(Default)]
struct TeList {
    present: bool,
    codings: usize,
    chunked_seen: bool,
    last_is_chunked: bool,
    invalid: bool,
}

impl TeList {
    fn add(&mut self, value: &[u8]) {
        self.present = true;
        for coding in list_elements(value) {
            self.codings += 1;
            if coding.eq_ignore_ascii_case(b"chunked") {
                // RFC 9112 §6.1: chunked MUST NOT be applied more than once.
                self.invalid |= self.chunked_seen;
                self.chunked_seen = true;
                self.last_is_chunked = true;
            } else {
                // `chunked;x=y` is invalid too (chunked takes no parameters).
                let name = coding.split(|&b| b == b';').next().unwrap_or_default();
                self.invalid |= !is_token(trim_ows(name));
                self.last_is_chunked = false;
            }
        }
    }

    fn finish(&self) -> TransferEncoding {
        if !self.present {
            TransferEncoding::Absent
        } else if self.invalid || !self.last_is_chunked {
            TransferEncoding::Invalid
        } else if self.codings == 1 {
            TransferEncoding::Chunked
        } else {
            TransferEncoding::Unsupported
        }
    }
}

/// RFC 9110 §8.6: `1*DIGIT`, nothing else — no sign, no inner whitespace,
/// no list (`5, 5` is how some parsers fold duplicates, and is refused).
pub(crate) fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    if value.is_empty() {
        return Err(Error::Malformed("empty Content-Length"));
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(Error::Malformed("invalid Content-Length"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(Error::Malformed("Content-Length overflow"))?;
    }
    Ok(n)
}

/// Elements of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed;
/// empty elements are yielded so callers decide whether to ignore them.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// RFC 9110 §5.6.2 tchar.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn is_token(value: &[u8]) -> bool {
    !value.is_empty() && value.iter().all(|&b| is_tchar(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name,
            value: value.as_bytes(),
        }
    }

    fn te(values: &[&str]) -> TransferEncoding {
        let headers: Vec<_> = values.iter().map(|v| h("Transfer-Encoding", v)).collect();
        collect(&headers).unwrap().transfer_encoding
    }

    #[test]
    fn content_length_accepts_only_digits() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"0042"), Ok(42));
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"+5",
            b"-5",
            b"5 5",
            b"5,5",
            b"5, 5",
            b"0x10",
            b"1e3",
            b"5\t",
            b"\xd9\xa5", // Arabic-Indic digit five
        ] {
            assert!(parse_content_length(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_content_length(b"18446744073709551616"),
            Err(Error::Malformed("Content-Length overflow"))
        );
    }

    #[test]
    fn duplicate_content_length_even_equal_is_rejected() {
        let headers = [h("Content-Length", "5"), h("content-length", "5")];
        assert_eq!(
            collect(&headers),
            Err(Error::Malformed("duplicate Content-Length"))
        );
    }

    #[test]
    fn transfer_encoding_classification() {
        assert_eq!(te(&[]), TransferEncoding::Absent);
        assert_eq!(te(&["chunked"]), TransferEncoding::Chunked);
        assert_eq!(te(&["CHUNKED"]), TransferEncoding::Chunked);
        assert_eq!(te(&["gzip, chunked"]), TransferEncoding::Unsupported);
        assert_eq!(te(&["gzip", "chunked"]), TransferEncoding::Unsupported);
        assert_eq!(te(&["gzip;q=1 , chunked"]), TransferEncoding::Unsupported);
        assert_eq!(te(&["chunked, gzip"]), TransferEncoding::Invalid);
        assert_eq!(te(&["chunked", "chunked"]), TransferEncoding::Invalid);
        assert_eq!(te(&["chunked, chunked"]), TransferEncoding::Invalid);
        assert_eq!(te(&["gzip"]), TransferEncoding::Invalid);
        assert_eq!(te(&["identity"]), TransferEncoding::Invalid);
        assert_eq!(te(&[""]), TransferEncoding::Invalid);
        assert_eq!(te(&["chunked,"]), TransferEncoding::Invalid);
        assert_eq!(te(&[", chunked"]), TransferEncoding::Invalid);
        assert_eq!(te(&["chunked;x=1"]), TransferEncoding::Invalid);
        assert_eq!(te(&["\"chunked\""]), TransferEncoding::Invalid);
        assert_eq!(te(&["chunked\x0b"]), TransferEncoding::Invalid);
    }

    #[test]
    fn connection_tokens() {
        let f = collect(&[h("Connection", "Keep-Alive, , UPGRADE")]).unwrap();
        assert!(f.keep_alive && f.connection_upgrade && !f.close);
        let f = collect(&[h("Connection", "foo"), h("connection", "close")]).unwrap();
        assert!(f.close && !f.keep_alive);
        // `closed` is not `close`
        let f = collect(&[h("Connection", "closed")]).unwrap();
        assert!(!f.close);
        assert!(collect(&[h("Connection", "a b")]).is_err());
    }

    #[test]
    fn host_and_upgrade_must_be_single() {
        assert_eq!(
            collect(&[h("Host", "a"), h("HOST", "a")]),
            Err(Error::Malformed("duplicate Host"))
        );
        assert_eq!(
            collect(&[h("Upgrade", "websocket"), h("Upgrade", "h2c")]),
            Err(Error::Malformed("duplicate Upgrade"))
        );
        let f = collect(&[h("Host", "a:1"), h("Upgrade", "websocket")]).unwrap();
        assert_eq!(f.host, Some(&b"a:1"[..]));
        assert_eq!(f.upgrade, Some(&b"websocket"[..]));
    }

    #[test]
    fn expect_values() {
        let f = collect(&[h("Expect", "100-Continue")]).unwrap();
        assert!(f.expect && f.expect_only_continue);
        let f = collect(&[h("Expect", "100-continue"), h("Expect", "x")]).unwrap();
        assert!(f.expect && !f.expect_only_continue);
        let f = collect(&[h("Expect", "100-continue, foo")]).unwrap();
        assert!(!f.expect_only_continue);
        let f = collect(&[]).unwrap();
        assert!(!f.expect);
    }

    #[test]
    fn list_and_trim_helpers() {
        let elems: Vec<&[u8]> = list_elements(b" a ,\tb,, c\t").collect();
        assert_eq!(elems, [&b"a"[..], b"b", b"", b"c"]);
        assert_eq!(trim_ows(b"  "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"\tx y "), b"x y");
        assert!(is_token(b"keep-alive"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a,b"));
    }
}
