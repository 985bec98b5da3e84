//! Byte offsets (what the TOML parser reports) → 1-based line and column (what
//! people and editors read).

/// Start offsets of every line, computed once per file so that turning many
/// diagnostics into positions stays linear.
pub(crate) struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            src.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self { src, starts }
    }

    /// Line and column of `offset`, both 1-based. The column counts characters,
    /// not bytes, so it matches what an editor shows on lines with non-ASCII
    /// text. Offsets past the end clamp to the end of the file.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        // `starts[0] == 0 <= offset`, so the partition point is at least 1.
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let col = match self.src.get(start..offset) {
            Some(text) => text.chars().count(),
            // Not on a character boundary (cannot happen for parser spans):
            // fall back to bytes rather than fail.
            None => offset.saturating_sub(start),
        };
        (line.max(1), col + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_is_line_1_col_1() {
        assert_eq!(LineIndex::new("abc").position(0), (1, 1));
        assert_eq!(LineIndex::new("").position(0), (1, 1));
    }

    #[test]
    fn positions_after_newlines() {
        let idx = LineIndex::new("a = 1\nbb = 2\n\nc = 3");
        assert_eq!(idx.position(4), (1, 5));
        assert_eq!(idx.position(5), (1, 6)); // the newline itself
        assert_eq!(idx.position(6), (2, 1));
        assert_eq!(idx.position(11), (2, 6));
        assert_eq!(idx.position(13), (3, 1));
        assert_eq!(idx.position(14), (4, 1));
        assert_eq!(idx.position(18), (4, 5));
    }

    #[test]
    fn columns_count_characters() {
        // "é" is two bytes; the value after it is still column 7.
        let src = "k = \"é\" x";
        let idx = LineIndex::new(src);
        let x = src.find('x').unwrap();
        assert_eq!(idx.position(x), (1, 9));
    }

    #[test]
    fn offsets_past_the_end_clamp() {
        assert_eq!(LineIndex::new("ab\ncd").position(99), (2, 3));
    }

    #[test]
    fn crlf_lines() {
        let idx = LineIndex::new("a\r\nb");
        assert_eq!(idx.position(3), (2, 1));
    }
}
