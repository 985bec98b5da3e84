#![forbid(unsafe_code)]
//! Configuration: TOML schema → validation → [`Config`].
//!
//! [`load`] and [`parse`] either return a `Config` the gateway can run as is,
//! or every problem in the file as a [`Diagnostic`] (`file:line:col: key: message`).
//! Nothing here touches the network or the clock, so the same file always
//! gives the same answer — at start-up, on reload and in `shardgate check`.

mod defaults;
mod document;
mod duration;
mod error;
mod model;
mod raw;
mod report;
mod size;
mod span;
mod validate;

use std::path::Path;

pub use error::{Diagnostic, Diagnostics, Error};
pub use model::*;

/// Reads and validates the configuration file at `path`. Diagnostics name the
/// file as `path` is displayed.
pub fn load(path: &Path) -> Result<Config, Error> {
    load_source(path).map(|(config, _)| config)
}

/// As [`load`], also returning the text the config was built from (what
/// the admin API's `/config` hashes: the bytes loaded, not the file as it
/// may have changed since).
pub fn load_source(path: &Path) -> Result<(Config, String), Error> {
    let src = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    parse_in(&src, &path.display().to_string(), dir).map(|config| (config, src))
}

/// Validates configuration text; `file_label` is what diagnostics call the
/// file (a path, or e.g. `<stdin>`).
/// Relative file names in it (TLS certificates) are taken from the current directory.
pub fn parse(src: &str, file_label: &str) -> Result<Config, Error> {
    parse_in(src, file_label, Path::new(""))
}

/// As [`parse`], with relative file names taken from `dir` (the directory of
/// the config file, as [`load`] does).
pub fn parse_in(src: &str, file_label: &str, dir: &Path) -> Result<Config, Error> {
    let mut report = report::Report::new(file_label, src);
    let config =
        document::read(src, &mut report).map(|doc| validate::validate(&mut report, &doc, dir));
    match config {
        Some(config) if !report.has_errors() => Ok(config),
        _ => Err(Error::Invalid(report.finish())),
    }
}
