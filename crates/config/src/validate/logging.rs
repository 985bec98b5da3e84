//! `[access_log]` and `[request_id]`.
//!
//! The access-log file is not opened here (validation has no side effects),
//! but its directory must exist: a typo in the path is then reported at the
//! key, by `shardgate check` and on reload, instead of as a failed open later.

use std::path::{Path, PathBuf};

use serde_spanned::Spanned;

use super::headers::{field_name, is_managed};
use super::tls::resolve;
use super::value::{at, choice};
use crate::model::{AccessLogConfig, AccessLogFormat, AccessLogPath, RequestIdConfig};
use crate::raw::{RawAccessLog, RawRequestId};
use crate::report::Report;

const FORMATS: [(&str, AccessLogFormat); 2] = [
    ("json", AccessLogFormat::Json),
    ("combined", AccessLogFormat::Combined),
];

pub(crate) fn access_log(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawAccessLog>>,
    dir: &Path,
) -> Option<AccessLogConfig> {
    let raw = raw?.get_ref();
    let d = AccessLogConfig::default();
    let path = match raw.path.as_ref() {
        Some(v) => path(r, v, dir).unwrap_or(d.path),
        None => d.path,
    };
    Some(AccessLogConfig {
        path,
        format: choice(
            r,
            raw.format.as_ref(),
            "access_log.format",
            d.format,
            &FORMATS,
        ),
    })
}

fn path(r: &mut Report<'_>, value: &Spanned<String>, dir: &Path) -> Option<AccessLogPath> {
    let text = value.get_ref();
    if text == AccessLogPath::STDOUT {
        return Some(AccessLogPath::Stdout);
    }
    match check_file(text, dir) {
        Ok(file) => Some(AccessLogPath::File(file)),
        Err(message) => {
            r.error(at(value), "access_log.path", message);
            None
        }
    }
}

pub(crate) fn check_file(text: &str, dir: &Path) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err(format!(
            "must not be empty; write \"{}\" or a file path",
            AccessLogPath::STDOUT
        ));
    }
    let file = resolve(dir, text);
    if file.is_dir() {
        return Err(format!(
            "{} is a directory; name a file in it",
            file.display()
        ));
    }
    // `resolve` of a bare file name in the current directory has an empty parent.
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(format!("directory {} does not exist", parent.display()));
    }
    Ok(file)
}

pub(crate) fn request_id(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawRequestId>>,
) -> RequestIdConfig {
    let d = RequestIdConfig::default();
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return d;
    };
    let header = match raw.header.as_ref() {
        Some(v) => header(r, v).unwrap_or(d.header),
        None => d.header,
    };
    RequestIdConfig {
        enabled: raw.enabled.unwrap_or(d.enabled),
        header,
    }
}

/// The header is set on forwarded requests, so it must be a token and may not
/// be one the proxy frames or routes the message by.
fn header(r: &mut Report<'_>, value: &Spanned<String>) -> Option<String> {
    let key = "request_id.header";
    if !field_name(r, value, key) {
        return None;
    }
    let lower = value.get_ref().to_ascii_lowercase();
    if is_managed(&lower) || lower == "host" {
        r.error(
            at(value),
            key,
            format!("`{lower}` cannot carry a request id: the proxy reads or writes it itself"),
        );
        return None;
    }
    Some(lower)
}
