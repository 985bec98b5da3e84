//! Path normalization before routing (RFC 3986 §6.2.2): the forms of one
//! path a recipient may treat as the same resource are reduced to one, so
//! a route's `path_prefix` cannot be walked around with `/x/../admin`,
//! `/%61dmin` or `//admin`, and the origin is sent the path the route
//! matched (one that normalizes the same way sees what the gateway saw).
//!
//! - percent-encoded unreserved characters (`ALPHA DIGIT - . _ ~`) are
//!   decoded (§6.2.2.2); other escapes, `%2F` among them, stay as they are;
//! - dot segments are removed (§5.2.4), those spelled `%2e` too; `..` at
//!   the root stays at the root;
//! - with `merge_slashes`, runs of `/` become one (as nginx does by
//!   default): `//admin` is not a path under `/admin` otherwise.
//!
//! The query (and an absolute-form target's scheme and authority) are kept
//! verbatim. A path with nothing to do costs one scan and no copy.

/// Writes the normalized form of `target` to `out` and returns true, or
/// returns false (and leaves `out` alone) when `target` is already
/// normal. Only origin-form and absolute-form targets have a path to
/// normalize.
pub fn normalize_target(target: &str, merge_slashes: bool, out: &mut Vec<u8>) -> bool {
    let Some((prefix, path, tail)) = split_path(target) else {
        return false;
    };
    if !needs_work(path.as_bytes(), merge_slashes) {
        return false;
    }
    out.clear();
    out.extend_from_slice(prefix.as_bytes());
    let start = out.len();
    decode_unreserved(path.as_bytes(), out);
    remove_dot_segments(out, start, merge_slashes);
    out.extend_from_slice(tail.as_bytes());
    true
}

/// Whether [`normalize_target`] would rewrite `target`: one scan, so that
/// a caller takes an output buffer only for a target that needs one.
pub fn needs_normalizing(target: &str, merge_slashes: bool) -> bool {
    split_path(target).is_some_and(|(_, path, _)| needs_work(path.as_bytes(), merge_slashes))
}

/// `(before the path, the path, from its `?` or `#` on)`; None when the
/// target has no path that starts with `/`.
fn split_path(target: &str) -> Option<(&str, &str, &str)> {
    let from = if target.starts_with('/') {
        0
    } else {
        let (_, rest) = crate::split_absolute_form(target)?;
        target.len() - rest.len()
    };
    let rest = target.get(from..)?;
    if !rest.starts_with('/') {
        return None;
    }
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    Some((target.get(..from)?, rest.get(..end)?, rest.get(end..)?))
}

fn needs_work(path: &[u8], merge_slashes: bool) -> bool {
    path.iter().enumerate().any(|(i, &b)| match b {
        b'%' => unreserved_escape(path, i).is_some(),
        b'/' => {
            let seg = path.get(i + 1..).unwrap_or_default();
            let seg = seg.split(|&c| c == b'/').next().unwrap_or_default();
            seg == b"." || seg == b".." || (merge_slashes && path.get(i + 1) == Some(&b'/'))
        }
        _ => false,
    })
}

/// The unreserved character `%XX` at `path[i..]` stands for, if it does.
fn unreserved_escape(path: &[u8], i: usize) -> Option<u8> {
    let hex = |k: usize| path.get(k).and_then(|&c| (c as char).to_digit(16));
    let byte = u8::try_from(hex(i + 1)? * 16 + hex(i + 2)?).ok()?;
    (byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)).then_some(byte)
}

fn decode_unreserved(path: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        match unreserved_escape(path, i).filter(|_| b == b'%') {
            Some(c) => {
                out.push(c);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// RFC 3986 §5.2.4 over the absolute path in `buf[start..]`, in place: a
/// write cursor never passes the read cursor, so the output overwrites
/// only what was read.
fn remove_dot_segments(buf: &mut Vec<u8>, start: usize, merge_slashes: bool) {
    let end = buf.len();
    // The path starts with '/': segments follow each '/'.
    let mut read = start + 1;
    let mut write = start;
    loop {
        let seg_end = buf
            .get(read..end)
            .and_then(|s| s.iter().position(|&c| c == b'/'))
            .map_or(end, |p| read + p);
        let last = seg_end == end;
        let seg_len = seg_end - read;
        let is = |s: &[u8]| buf.get(read..seg_end) == Some(s);
        if is(b".") {
            if last {
                put(buf, &mut write, None);
            }
        } else if is(b"..") {
            // Back to the start of the segment before, or the root.
            let kept = buf.get(start..write).unwrap_or_default();
            write = start + kept.iter().rposition(|&c| c == b'/').unwrap_or(0);
            if last {
                put(buf, &mut write, None);
            }
        } else if seg_len == 0 && merge_slashes && !last {
            // `//`: the empty segment is dropped.
        } else {
            put(buf, &mut write, Some(read..seg_end));
        }
        if last {
            break;
        }
        read = seg_end + 1;
    }
    if write == start {
        put(buf, &mut write, None);
    }
    buf.truncate(write);
}

/// Writes `/` and then the segment at `seg` (read further on in `buf`) at
/// `*write`.
fn put(buf: &mut [u8], write: &mut usize, seg: Option<std::ops::Range<usize>>) {
    if let Some(slash) = buf.get_mut(*write) {
        *slash = b'/';
    }
    *write += 1;
    if let Some(r) = seg {
        let n = r.len();
        buf.copy_within(r, *write);
        *write += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(target: &str, merge: bool) -> String {
        let mut out = Vec::new();
        let needed = needs_normalizing(target, merge);
        assert_eq!(
            needed,
            normalize_target(target, merge, &mut out),
            "{target}"
        );
        if needed {
            let s = String::from_utf8(out).unwrap();
            assert_ne!(s, target, "rewritten to itself: the check missed nothing");
            s
        } else {
            target.to_string()
        }
    }

    #[test]
    fn normal_paths_are_left_alone() {
        for t in [
            "/",
            "/a/b?c=/../d",
            "/a.b/.c/..d/e..",
            "/%2F/%20/%zz/%4",
            "*",
            "example.com:443",
            "http://h",
            "http://h?x=/../",
            "/a//b",
        ] {
            let mut out = vec![b'x'];
            assert!(!needs_normalizing(t, t != "/a//b"), "{t}");
            assert!(!normalize_target(t, t != "/a//b", &mut out), "{t}");
            assert_eq!(out, b"x", "{t}: untouched");
        }
    }

    #[test]
    fn dot_segments_are_removed() {
        let cases = [
            ("/foo/../admin/x", "/admin/x"),
            ("/./admin/x", "/admin/x"),
            ("/a/b/c/./../../g", "/a/g"),
            ("/../../x", "/x"),
            ("/..", "/"),
            ("/.", "/"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("/a/b/..", "/a/"),
            ("/a/./b/", "/a/b/"),
            ("/a/../b?q=/../x", "/b?q=/../x"),
            ("http://h/a/../b?q", "http://h/b?q"),
            ("http://h:80/./x#f", "http://h:80/x#f"),
        ];
        for (from, to) in cases {
            assert_eq!(norm(from, false), to, "{from}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_kept() {
        let cases = [
            ("/%61dmin/x", "/admin/x"),
            ("/foo/%2e%2e/admin/x", "/admin/x"),
            ("/foo/%2E./admin", "/admin"),
            ("/%7E%2d%5F%2E", "/~-_."),
            ("/a%2Fb/%61", "/a%2Fb/a"),
            ("/%25%61", "/%25a"),
        ];
        for (from, to) in cases {
            assert_eq!(norm(from, false), to, "{from}");
        }
    }

    #[test]
    fn slashes_merge_only_when_asked() {
        assert_eq!(norm("//admin/x", true), "/admin/x");
        assert_eq!(norm("/a///b//", true), "/a/b/");
        assert_eq!(norm("/a//../b", true), "/b");
        assert_eq!(norm("//admin/x", false), "//admin/x");
        // RFC 3986 keeps empty segments: `..` climbs one of them.
        assert_eq!(norm("/a//../b", false), "/a/b");
    }
}
