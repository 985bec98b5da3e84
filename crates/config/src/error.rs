//! The crate's one error type and the diagnostics it carries.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file was read but is not a configuration the gateway can run. Every
    /// problem found is listed, so an operator fixes them in one edit cycle
    /// instead of one per reload attempt.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// All problems found in one file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Lines rather than one long string: each is a complete `file:line:col:` record
/// that editors and CI log viewers turn into a link.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            d.fmt(f)?;
        }
        Ok(())
    }
}

/// One problem, located at the offending value (or at the key or table header
/// when the value is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file label given to [`crate::parse`] (the path for [`crate::load`]).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    /// Where in the document: `server.timeouts.header_read`, `route[2].proxy`,
    /// `upstream[0].servers[1].address`. Empty only for a syntax error that
    /// lies outside any table or key.
    pub key: String,
    pub message: String,
}

/// `FILE:LINE:COL: key.path: message` — the format compilers use, so terminals
/// and editors jump straight to the spot. The key segment is left out when no
/// key is known (a syntax error before any key).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: usize, key: &str) -> Diagnostic {
        Diagnostic {
            file: "gw.toml".into(),
            line,
            col: 7,
            key: key.into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn diagnostic_display_is_file_line_col_key_message() {
        assert_eq!(
            diag(3, "route[2].proxy").to_string(),
            "gw.toml:3:7: route[2].proxy: bad"
        );
        assert_eq!(diag(1, "").to_string(), "gw.toml:1:7: bad");
    }

    #[test]
    fn diagnostics_display_one_per_line() {
        let all = Diagnostics(vec![diag(1, "a"), diag(2, "b")]);
        assert_eq!(all.to_string(), "gw.toml:1:7: a: bad\ngw.toml:2:7: b: bad");
        assert_eq!(Error::Invalid(all).to_string().lines().count(), 2);
    }
}
