//! `[admin]`: where the admin listener binds and its optional bearer token.

use std::path::Path;

use serde_spanned::Spanned;

use super::listener::{Bound, Transport};
use super::value::{address, at};
use crate::model::{AdminConfig, Secret};
use crate::raw::RawAdmin;
use crate::report::Report;

/// Longest token file read: a token is a line, not a document; a bigger
/// file is almost certainly the wrong one (a key, a log).
const MAX_TOKEN_FILE: u64 = 4096;

pub(crate) fn admin(
    r: &mut Report<'_>,
    raw: Option<&Spanned<RawAdmin>>,
    bound: &Bound,
    dir: &Path,
) -> Option<AdminConfig> {
    let raw = raw?;
    if r.is_pruned("admin.address") {
        return None;
    }
    let (addr, addr_at) = match raw.get_ref().address.as_ref() {
        Some(v) => (address(r, v, "admin.address")?, at(v)),
        None => (AdminConfig::DEFAULT_ADDRESS, at(raw)),
    };
    // The admin listener is TCP: an h3 listener on its address does not clash.
    if let Some((i, listener_name)) = bound.get(&(Transport::Tcp, addr)) {
        r.error(
            addr_at,
            "admin.address",
            format!("address {addr} is already used by listener[{i}] ({listener_name:?})"),
        );
    }
    let (token_file, token) = match raw.get_ref().token_file.as_ref() {
        Some(v) => {
            let path = super::tls::resolve(dir, v.get_ref());
            match read_token(&path) {
                Ok(t) => (Some(path), Some(t)),
                Err(m) => {
                    r.error(at(v), "admin.token_file", m);
                    (Some(path), None)
                }
            }
        }
        None => (None, None),
    };
    Some(AdminConfig {
        address: addr,
        token_file,
        token,
    })
}

/// The file's content without surrounding whitespace (a trailing newline
/// from `echo` or an editor is not part of the token).
fn read_token(path: &Path) -> Result<Secret, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_TOKEN_FILE {
        return Err(format!(
            "{} is {} bytes; a token file holds one token (at most {MAX_TOKEN_FILE} bytes)",
            path.display(),
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{} holds no token (it is empty)", path.display()));
    }
    // It travels in `Authorization: Bearer <token>`: visible ASCII only.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the token in {} must be one word of visible ASCII characters",
            path.display()
        ));
    }
    Ok(Secret::new(token.to_string()))
}
