//! Key paths for positions: the TOML parser and serde report a byte span, the
//! diagnostic wants `upstream[0].servers[1].address`.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// Every key and array element of the parsed tree with its path and spans.
pub(crate) struct KeyIndex {
    nodes: Vec<Node>,
}

struct Node {
    path: String,
    depth: usize,
    key: Range<usize>,
    value: Range<usize>,
    is_table: bool,
}

impl KeyIndex {
    pub(crate) fn new(root: &DeTable<'_>) -> Self {
        let mut index = Self { nodes: Vec::new() };
        index.walk_table(root, "", 0);
        index
    }

    fn walk_table(&mut self, table: &DeTable<'_>, base: &str, depth: usize) {
        for (key, value) in table.iter() {
            let path = join_key(base, key.get_ref());
            self.add(path, depth + 1, key.span(), value.span(), value.get_ref());
        }
    }

    fn add(
        &mut self,
        path: String,
        depth: usize,
        key: Range<usize>,
        value: Range<usize>,
        v: &DeValue<'_>,
    ) {
        match v {
            DeValue::Table(table) => self.walk_table(table, &path, depth),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let span = item.span();
                    self.add(
                        format!("{path}[{i}]"),
                        depth + 1,
                        span.clone(),
                        span,
                        item.get_ref(),
                    );
                }
            }
            _ => {}
        }
        self.nodes.push(Node {
            path,
            depth,
            key,
            value,
            is_table: matches!(v, DeValue::Table(_)),
        });
    }

    /// The deepest key whose name or value covers `offset`.
    pub(crate) fn path_at(&self, offset: usize) -> Option<&str> {
        self.nodes
            .iter()
            .filter(|n| covers(&n.key, offset) || covers(&n.value, offset))
            .max_by_key(|n| n.depth)
            .map(|n| n.path.as_str())
    }

    /// Best guess for a syntax error at `offset`, where the tree is partial:
    /// the key covering it, else the last key started earlier on the same line,
    /// else the table whose header precedes it. Empty when none applies.
    pub(crate) fn enclosing(&self, offset: usize, line_of: impl Fn(usize) -> usize) -> String {
        if let Some(path) = self.path_at(offset) {
            return path.to_string();
        }
        let line = line_of(offset);
        let same_line = self
            .nodes
            .iter()
            .filter(|n| !n.key.is_empty() && n.key.start <= offset && line_of(n.key.start) == line)
            .max_by_key(|n| (n.key.start, n.depth));
        let table = || {
            self.nodes
                .iter()
                .filter(|n| n.is_table && !n.value.is_empty() && n.value.start <= offset)
                .max_by_key(|n| (n.value.start, n.depth))
        };
        same_line
            .or_else(table)
            .map(|n| n.path.clone())
            .unwrap_or_default()
    }
}

fn covers(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end
}

/// Appends `key` to a dotted path, quoting it the way TOML would when it is not
/// a bare key (header names such as `x.y` stay unambiguous).
pub(crate) fn join_key(base: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if base.is_empty() {
        key
    } else {
        format!("{base}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(src: &str) -> KeyIndex {
        let root = DeTable::parse(src).unwrap();
        KeyIndex::new(root.get_ref())
    }

    #[test]
    fn paths_of_values_keys_and_elements() {
        let src = "[[up]]\nname = \"a\"\n[[up]]\nservers = [\"x\", { address = \"y\" }]\n";
        let idx = index(src);
        let at = |needle: &str| src.find(needle).unwrap();
        assert_eq!(idx.path_at(at("\"a\"")), Some("up[0].name"));
        assert_eq!(idx.path_at(at("name")), Some("up[0].name"));
        assert_eq!(idx.path_at(at("\"x\"")), Some("up[1].servers[0]"));
        assert_eq!(idx.path_at(at("\"y\"")), Some("up[1].servers[1].address"));
        assert_eq!(idx.path_at(at("[[up]]\nservers")), Some("up[1]"));
    }

    #[test]
    fn keys_are_quoted_when_not_bare() {
        assert_eq!(join_key("", "server"), "server");
        assert_eq!(join_key("set", "x-env"), "set.x-env");
        assert_eq!(join_key("set", "x.y"), "set.\"x.y\"");
        assert_eq!(join_key("set", ""), "set.\"\"");
    }

    #[test]
    fn enclosing_falls_back_to_the_preceding_table() {
        let src = "[server]\nshards = 1\n\n";
        let idx = index(src);
        let line_of = |o: usize| src[..o].matches('\n').count() + 1;
        assert_eq!(idx.enclosing(src.len() - 1, line_of), "server");
        assert_eq!(index("").enclosing(0, line_of), "");
    }
}
