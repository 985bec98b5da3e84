//! Shared by the `errors_*` tests: documents built from lines, and assertions
//! on the exact diagnostics they produce.
#![allow(dead_code, unused_imports)] // each test file uses a different subset

pub use shardgate_config::{load, parse, Error};

/// Lines 1–7 of most test documents: one listener and one upstream, valid.
pub const BASE: [&str; 7] = [
    "[[listener]]",
    "name = \"public\"",
    "address = \"127.0.0.1:8080\"",
    "",
    "[[upstream]]",
    "name = \"backend\"",
    "servers = [\"127.0.0.1:9000\"]",
];

/// A document from lines; `extra` starts at line 8.
pub fn with_base(extra: &[&str]) -> String {
    let mut lines: Vec<&str> = BASE.to_vec();
    lines.extend_from_slice(extra);
    lines.join("\n") + "\n"
}

pub fn doc(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

pub fn errors(src: &str) -> Vec<String> {
    match parse(src, "t.toml") {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(Error::Invalid(diags)) => diags.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("expected diagnostics, got {other}"),
    }
}

/// Exactly one diagnostic, equal to `expected`.
#[track_caller]
pub fn assert_error(src: &str, expected: &str) {
    assert_eq!(errors(src), [expected], "source:\n{src}");
}

/// Exactly one diagnostic, starting with `prefix` and containing `needle`.
#[track_caller]
pub fn assert_error_like(src: &str, prefix: &str, needle: &str) {
    let all = errors(src);
    assert_eq!(all.len(), 1, "{all:#?}\nsource:\n{src}");
    assert!(
        all[0].starts_with(prefix) && all[0].contains(needle),
        "got {:?}\nwanted prefix {prefix:?} and {needle:?}",
        all[0]
    );
}
