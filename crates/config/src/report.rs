//! Collects diagnostics while the document is read and validated.

use crate::error::{Diagnostic, Diagnostics};
use crate::span::LineIndex;

/// The sink every check writes to. Checks never stop at the first problem: they
/// record it and carry on with a placeholder value, so one run reports all.
pub(crate) struct Report<'a> {
    file: &'a str,
    lines: LineIndex<'a>,
    diags: Vec<Diagnostic>,
    /// Key paths removed after a serde error: already reported, so a check
    /// that finds them missing stays quiet instead of reporting a cascade.
    pruned: Vec<String>,
}

impl<'a> Report<'a> {
    pub(crate) fn new(file: &'a str, src: &'a str) -> Self {
        Self {
            file,
            lines: LineIndex::new(src),
            diags: Vec::new(),
            pruned: Vec::new(),
        }
    }

    /// Records a problem at byte `offset` of the source.
    pub(crate) fn error(
        &mut self,
        offset: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, col) = self.lines.position(offset);
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line,
            col,
            key: key.into(),
            message: message.into(),
        });
    }

    pub(crate) fn mark_pruned(&mut self, path: String) {
        self.pruned.push(path);
    }

    pub(crate) fn is_pruned(&self, path: &str) -> bool {
        self.pruned.iter().any(|p| p == path)
    }

    /// `file:line:col: key` for the value at `offset`: the prefix of a
    /// diagnostic, kept for a problem found after validation (a host name
    /// that does not resolve).
    pub(crate) fn site(&self, offset: usize, key: &str) -> String {
        let (line, col) = self.lines.position(offset);
        format!("{}:{line}:{col}: {key}", self.file)
    }

    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.lines.position(offset).0
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.diags.is_empty()
    }

    /// The diagnostics in file order. Checks run section by section, so they
    /// are sorted here; the sort is stable, keeping check order on a tie.
    pub(crate) fn finish(self) -> Diagnostics {
        let mut diags = self.diags;
        diags.sort_by_key(|d| (d.line, d.col));
        Diagnostics(diags)
    }
}
