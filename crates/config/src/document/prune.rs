//! Removing the key serde choked on, so the rest of its table can still be
//! read and checked: serde stops at the first error, this lets a run report
//! every misspelt key and every wrongly typed value.

use std::ops::Range;

use serde_spanned::Spanned;
use toml::de::DeValue;

use super::locate::join_key;

/// Removes the innermost table entry holding `offset` (a whole array when the
/// error is in one of its non-table elements, so indices of the remaining
/// elements never shift). Returns the removed key's path, or `None` when
/// `offset` is not inside any entry (the value itself is wrong).
pub(crate) fn prune(value: &mut Spanned<DeValue<'_>>, offset: usize, path: &str) -> Option<String> {
    match value.get_mut() {
        DeValue::Table(table) => {
            let key = table
                .iter()
                .find(|(k, v)| covers(&k.span(), offset) || holds(v, offset))
                .map(|(k, _)| k.clone())?;
            let child_path = join_key(path, key.get_ref());
            let deeper = table
                .get_mut(&key)
                .and_then(|child| prune(child, offset, &child_path));
            if deeper.is_some() {
                return deeper;
            }
            table.remove(&key);
            Some(child_path)
        }
        DeValue::Array(items) => items
            .iter_mut()
            .enumerate()
            .find(|(_, item)| holds(item, offset))
            .and_then(|(i, item)| prune(item, offset, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Whether `offset` lies in this value or anywhere below it. Spans alone do not
/// say: a `[table]`'s span is its header, not its body.
fn holds(value: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    covers(&value.span(), offset)
        || match value.get_ref() {
            DeValue::Table(table) => table
                .iter()
                .any(|(k, v)| covers(&k.span(), offset) || holds(v, offset)),
            DeValue::Array(items) => items.iter().any(|item| holds(item, offset)),
            _ => false,
        }
}

fn covers(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::de::DeTable;

    fn root(src: &str) -> Spanned<DeValue<'_>> {
        let table = DeTable::parse(src).unwrap();
        let span = table.span();
        Spanned::new(span, DeValue::Table(table.into_inner()))
    }

    fn keys(v: &Spanned<DeValue<'_>>, path: &[&str]) -> Vec<String> {
        let mut cur = v.get_ref();
        for p in path {
            cur = cur.as_table().unwrap().get(*p).unwrap().get_ref();
        }
        cur.as_table()
            .unwrap()
            .keys()
            .map(|k| k.get_ref().to_string())
            .collect()
    }

    #[test]
    fn removes_the_entry_under_a_table_header() {
        let src = "[s]\na = 1\n[s.t]\nb = 2\nc = 3\n";
        let mut v = root(src);
        let at = src.find("2").unwrap();
        assert_eq!(prune(&mut v, at, ""), Some("s.t.b".to_string()));
        assert_eq!(keys(&v, &["s", "t"]), ["c"]);
        assert_eq!(keys(&v, &["s"]), ["a", "t"]);
    }

    #[test]
    fn removes_a_key_inside_an_inline_table_in_an_array() {
        let src = "servers = [\"x\", { adress = \"y\" }]\n";
        let mut v = root(src);
        let at = src.find("adress").unwrap();
        assert_eq!(
            prune(&mut v, at, "u"),
            Some("u.servers[1].adress".to_string())
        );
    }

    #[test]
    fn removes_the_whole_array_for_a_bad_scalar_element() {
        let src = "keep = 1\nhosts = [\"a\", 5]\n";
        let mut v = root(src);
        let at = src.find('5').unwrap();
        assert_eq!(prune(&mut v, at, "r"), Some("r.hosts".to_string()));
        assert_eq!(keys(&v, &[]), ["keep"]);
    }

    #[test]
    fn nothing_to_remove_outside_entries() {
        let mut v = Spanned::new(0..1, DeValue::Boolean(true));
        assert_eq!(prune(&mut v, 0, "server"), None);
    }
}
