//! Source text → [`RawDocument`]: TOML syntax, then serde, section by section.
//!
//! Each top-level section and each element of an array of tables is
//! deserialized on its own, and a key serde rejects is reported, removed and
//! the element read again (see `prune`): serde stops at the first error, a run
//! here reports every one.

mod locate;
mod prune;

pub(crate) use locate::join_key;

use serde::Deserialize;
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::raw::{RawDocument, Section};
use crate::report::Report;
use locate::KeyIndex;

const MAX_RETRIES: usize = 256;

const TOP_LEVEL: &str =
    "`server`, `admin`, `listener`, `route`, `upstream`, `access_log`, `request_id`, `resolver`";

/// Parses the document. `None` when the TOML itself is broken: the tree is
/// then partial and checking it would only add noise to the syntax errors.
pub(crate) fn read(src: &str, report: &mut Report<'_>) -> Option<RawDocument> {
    let (root, errors) = DeTable::parse_recoverable(src);
    let index = KeyIndex::new(root.get_ref());
    if !errors.is_empty() {
        syntax_errors(src, errors, &index, report);
        return None;
    }

    let mut doc = RawDocument::default();
    let mut entries: Vec<_> = root.into_inner().into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let mut ctx = Ctx { index, report };
    for (key, value) in entries {
        let at = key.span().start;
        match key.get_ref().as_ref() {
            "server" => doc.server = ctx.one(value, "server"),
            "admin" => doc.admin = ctx.one(value, "admin"),
            "listener" => {
                doc.listener_key = Some(at);
                doc.listeners = ctx.many(value, "listener");
            }
            "route" => doc.routes = ctx.many(value, "route"),
            "upstream" => doc.upstreams = ctx.many(value, "upstream"),
            "access_log" => doc.access_log = ctx.one(value, "access_log"),
            "request_id" => doc.request_id = ctx.one(value, "request_id"),
            "resolver" => doc.resolver = ctx.one(value, "resolver"),
            other => ctx.report.error(
                at,
                locate::join_key("", other),
                format!("unknown key `{other}`, expected one of {TOP_LEVEL}"),
            ),
        }
    }
    Some(doc)
}

fn syntax_errors(
    src: &str,
    mut errors: Vec<toml::de::Error>,
    index: &KeyIndex,
    report: &mut Report<'_>,
) {
    errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
    let mut last_line = None;
    for error in errors {
        let at = error.span().map_or(0, |s| s.start);
        let line = report.line_of(at);
        // The parser recovers and often trips again on the rest of a broken
        // line; the first error of a line is the one that explains it.
        if last_line == Some(line) {
            continue;
        }
        last_line = Some(line);
        let mut key = index.enclosing(at, |o| report.line_of(o));
        // A repeated plain key is not in the tree (a repeated table header
        // is): take its name from the text at the span.
        if error.message() == "duplicate key" && index.path_at(at).is_none() {
            if let Some(name) = error.span().and_then(|s| src.get(s)) {
                let name = name.trim_matches(|c| c == '"' || c == '\'');
                key = locate::join_key(&key, name);
            }
        }
        report.error(at, key, format!("syntax error: {}", error.message()));
    }
}

struct Ctx<'r, 'a> {
    index: KeyIndex,
    report: &'r mut Report<'a>,
}

impl Ctx<'_, '_> {
    /// A single table such as `[server]`. On a serde error the offending key
    /// is reported and removed, and the table is read again, so one run
    /// reports every such error and the rest of the table is still validated.
    fn one<T>(&mut self, value: Spanned<DeValue<'_>>, path: &str) -> Option<Spanned<T>>
    where
        T: for<'de> Deserialize<'de>,
    {
        let mut value = value;
        // Each retry removes a key, so this ends; the bound is a backstop.
        for _ in 0..MAX_RETRIES {
            match Spanned::<T>::deserialize(ValueDeserializer::from(value.clone())) {
                Ok(parsed) => return Some(parsed),
                Err(error) => {
                    let at = error.span().map_or(value.span().start, |s| s.start);
                    self.serde_error(&error, at, path);
                    let removed = prune::prune(&mut value, at, path)?;
                    self.report.mark_pruned(removed);
                }
            }
        }
        None
    }

    /// An array of tables such as `[[route]]`, element by element.
    fn many<T>(&mut self, value: Spanned<DeValue<'_>>, key: &str) -> Section<T>
    where
        T: for<'de> Deserialize<'de>,
    {
        let mut section = Section::default();
        let at = value.span().start;
        let DeValue::Array(items) = value.into_inner() else {
            self.report.error(
                at,
                key,
                format!("expected an array of tables: write each as a [[{key}]] section"),
            );
            section.complete = false;
            return section;
        };
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("{key}[{i}]");
            match self.one::<T>(item, &path) {
                Some(parsed) => section.items.push((i, parsed)),
                None => section.complete = false,
            }
            // Without its name the element may be the target of references
            // that would otherwise be reported as unknown.
            if self.report.is_pruned(&format!("{path}.name")) {
                section.complete = false;
            }
        }
        section
    }

    /// Places a serde error at its span, with the key path found there.
    fn serde_error(&mut self, error: &toml::de::Error, at: usize, fallback_key: &str) {
        let key = self.index.path_at(at).unwrap_or(fallback_key).to_string();
        // serde says "field"; the file has keys.
        let message = error.message().replacen("unknown field", "unknown key", 1);
        self.report.error(at, key, message);
    }
}
