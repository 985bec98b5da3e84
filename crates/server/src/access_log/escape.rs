//! Escaping untrusted request data (paths, header values) into a log line,
//! without allocating.
//!
//! Every function writes at most `limit` bytes and returns `false` when it had
//! to stop early; it never cuts an escape sequence or a UTF-8 character in
//! half. Give each field a budget so that a line stays within
//! [`MAX_LINE`](super::MAX_LINE).

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The inside of a JSON string (no quotes). `"` and `\` are backslash-escaped;
/// control characters and DEL become `\u00XX`. Valid UTF-8 is copied as is.
///
/// Bytes that are not valid UTF-8 become `\u00XX` of the byte: the line stays
/// valid JSON (and UTF-8), and the raw byte value is still visible — which
/// matters when the odd bytes are the attack. The price: a reader cannot tell
/// `\u00e9` from an invalid byte 0xE9 from a real `é` written that way; real
/// non-ASCII characters are never escaped, so in this log it always means a byte.
pub fn json(out: &mut Vec<u8>, value: &[u8], limit: usize) -> bool {
    if plain(value, limit) {
        out.extend_from_slice(value);
        return true;
    }
    let end = out.len().saturating_add(limit);
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            let ok = match c {
                '"' => put(out, end, b"\\\""),
                '\\' => put(out, end, b"\\\\"),
                c if c < ' ' || c == '\u{7f}' => put_u00(out, end, c as u8),
                c => put(out, end, c.encode_utf8(&mut [0; 4]).as_bytes()),
            };
            if !ok {
                return false;
            }
        }
        for &b in chunk.invalid() {
            if !put_u00(out, end, b) {
                return false;
            }
        }
    }
    true
}

/// A field of the combined format, escaped as nginx does: `"` → `\x22`,
/// `\` → `\x5C`, bytes below 0x20 and from 0x7F up → `\xHH`. The result is
/// printable ASCII, so a field cannot break out of its quotes or its line.
pub fn combined(out: &mut Vec<u8>, value: &[u8], limit: usize) -> bool {
    if plain(value, limit) {
        out.extend_from_slice(value);
        return true;
    }
    let end = out.len().saturating_add(limit);
    for &b in value {
        let ok = match b {
            b'"' | b'\\' | 0..=0x1f | 0x7f..=0xff => put(
                out,
                end,
                &[
                    b'\\',
                    b'x',
                    HEX_UPPER[usize::from(b >> 4)],
                    HEX_UPPER[usize::from(b & 0xf)],
                ],
            ),
            _ => put(out, end, &[b]),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Printable ASCII other than `"` and `\\`, within `limit`: the same bytes
/// in both formats, copied at once. Almost every logged field is this, and
/// the per-character path cost ≈0.3 µs per JSON line.
fn plain(value: &[u8], limit: usize) -> bool {
    value.len() <= limit
        && value
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

fn put_u00(out: &mut Vec<u8>, end: usize, b: u8) -> bool {
    put(
        out,
        end,
        &[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX_LOWER[usize::from(b >> 4)],
            HEX_LOWER[usize::from(b & 0xf)],
        ],
    )
}

fn put(out: &mut Vec<u8>, end: usize, bytes: &[u8]) -> bool {
    if out.len() + bytes.len() > end {
        return false;
    }
    out.extend_from_slice(bytes);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(value: &[u8]) -> String {
        let mut out = Vec::new();
        assert!(json(&mut out, value, usize::MAX));
        String::from_utf8(out).unwrap()
    }

    fn c(value: &[u8]) -> String {
        let mut out = Vec::new();
        assert!(combined(&mut out, value, usize::MAX));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_escapes_quotes_backslashes_and_controls() {
        assert_eq!(j(b"plain /path?q=1"), "plain /path?q=1");
        assert_eq!(j(br#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(
            j(b"\r\n\t\x00\x1f\x7f"),
            r"\u000d\u000a\u0009\u0000\u001f\u007f"
        );
        assert_eq!(j("é ü €".as_bytes()), "é ü €");
    }

    #[test]
    fn json_escapes_invalid_utf8_byte_by_byte() {
        assert_eq!(j(b"a\xffb"), r"a\u00ffb");
        // A truncated sequence at the end, and one cut short by ASCII.
        assert_eq!(j(b"x\xe2\x82"), r"x\u00e2\u0082");
        assert_eq!(j(b"\xe2\x82x"), r"\u00e2\u0082x");
        // Mixed: a valid 2-byte character, then a lone lead byte.
        assert_eq!(j(b"\"\\\x01\xc3\xa9\xc3"), r#"\"\\\u0001é\u00c3"#);
    }

    #[test]
    fn json_stops_at_the_limit_without_cutting_an_escape_or_a_character() {
        let mut out = b"prefix".to_vec();
        assert!(!json(&mut out, b"ab\"cd", 3));
        assert_eq!(out, b"prefixab");
        let mut out = Vec::new();
        assert!(!json(&mut out, "aé".as_bytes(), 2));
        assert_eq!(out, b"a");
        let mut out = Vec::new();
        assert!(json(&mut out, b"abc", 3));
        assert_eq!(out, b"abc");
    }

    #[test]
    fn combined_escapes_like_nginx() {
        assert_eq!(c(b"GET /a b HTTP/1.1"), "GET /a b HTTP/1.1");
        assert_eq!(c(br#"say "hi"\"#), r"say \x22hi\x22\x5C");
        assert_eq!(c(b"\x00\x1f\x7f\x80\xff"), r"\x00\x1F\x7F\x80\xFF");
        assert_eq!(c("é".as_bytes()), r"\xC3\xA9");
        let mut out = Vec::new();
        assert!(!combined(&mut out, b"ab\"", 5));
        assert_eq!(out, b"ab");
    }

    #[test]
    fn nothing_is_allocated_when_there_is_room() {
        let mut out = Vec::with_capacity(64);
        let ptr = out.as_ptr();
        json(&mut out, b"\"x\xff", 64);
        combined(&mut out, b"\"x\xff", 64);
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(out.capacity(), 64);
    }
}
