//! `[access_log]`, `[request_id]` and the per-route `access_log` switch:
//! values, defaults, and each error at its `file:line:col: key`.

#[path = "support/diagnostics.rs"]
mod diagnostics;

use std::path::{Path, PathBuf};

use diagnostics::*;
use shardgate_config::{
    parse_in, AccessLogConfig, AccessLogFormat, AccessLogPath, Config, RequestIdConfig,
};

fn ok(src: &str) -> Config {
    parse(src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A directory that exists for the length of a test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sg-config-log-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn errors_in(src: &str, dir: &Path) -> Vec<String> {
    match parse_in(src, "t.toml", dir) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(Error::Invalid(diags)) => diags.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("expected diagnostics, got {other}"),
    }
}

#[test]
fn without_the_sections_the_access_log_is_off_and_request_ids_on() {
    let config = ok(&with_base(&[]));
    assert_eq!(config.access_log, None);
    assert_eq!(
        config.request_id,
        RequestIdConfig {
            enabled: true,
            header: "x-request-id".into()
        }
    );
}

#[test]
fn an_empty_access_log_section_writes_json_to_stdout() {
    let config = ok(&with_base(&["[access_log]"]));
    assert_eq!(
        config.access_log,
        Some(AccessLogConfig {
            path: AccessLogPath::Stdout,
            format: AccessLogFormat::Json
        })
    );
    assert_eq!(config.access_log, Some(AccessLogConfig::default()));
}

#[test]
fn access_log_to_a_file_relative_to_the_config_directory() {
    let dir = TempDir::new("rel");
    std::fs::create_dir(dir.0.join("logs")).unwrap();
    let src = with_base(&[
        "[access_log]",
        "path = \"logs/access.log\"",
        "format = \"combined\"",
    ]);
    let config = parse_in(&src, "t.toml", &dir.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.access_log,
        Some(AccessLogConfig {
            path: AccessLogPath::File(dir.0.join("logs/access.log")),
            format: AccessLogFormat::Combined
        })
    );
    // An absolute path is taken as is.
    let abs = dir.0.join("a.log");
    let src = with_base(&[
        "[access_log]",
        &format!("path = {:?}", abs.display().to_string()),
    ]);
    let config = ok(&src);
    assert_eq!(config.access_log.unwrap().path, AccessLogPath::File(abs));
}

#[test]
fn access_log_format_must_be_known() {
    let src = with_base(&["[access_log]", "format = \"clf\""]);
    assert_error(
        &src,
        "t.toml:9:10: access_log.format: unknown value \"clf\"; expected one of \"json\", \"combined\"",
    );
}

#[test]
fn access_log_path_must_not_be_empty() {
    let src = with_base(&["[access_log]", "path = \"\""]);
    assert_error(
        &src,
        "t.toml:9:8: access_log.path: must not be empty; write \"stdout\" or a file path",
    );
}

#[test]
fn access_log_directory_must_exist() {
    let dir = TempDir::new("missing");
    let src = with_base(&["[access_log]", "path = \"nope/access.log\""]);
    let missing = dir.0.join("nope");
    assert_eq!(
        errors_in(&src, &dir.0),
        [format!(
            "t.toml:9:8: access_log.path: directory {} does not exist",
            missing.display()
        )]
    );
}

#[test]
fn access_log_path_must_not_be_a_directory() {
    let dir = TempDir::new("isdir");
    let src = with_base(&["[access_log]", "format = \"json\"", "path = \".\""]);
    assert_eq!(
        errors_in(&src, &dir.0),
        [format!(
            "t.toml:10:8: access_log.path: {} is a directory; name a file in it",
            dir.0.join(".").display()
        )]
    );
}

#[test]
fn access_log_keys_are_checked_like_any_other() {
    let src = with_base(&["[access_log]", "file = \"x.log\""]);
    assert_error(
        &src,
        "t.toml:9:1: access_log.file: unknown key `file`, expected `path` or `format`",
    );
    let src = with_base(&["[access_log]", "path = 1"]);
    assert_error_like(
        &src,
        "t.toml:9:8: access_log.path: invalid type: integer",
        "a string",
    );
    let src = format!("access_log = true\n{}", with_base(&[]));
    assert_error_like(
        &src,
        "t.toml:1:14: access_log: invalid type: boolean",
        "a table",
    );
}

#[test]
fn routes_can_opt_out_of_the_access_log() {
    let config = ok(&with_base(&[
        "[[route]]",
        "path_prefix = \"/healthz\"",
        "respond = { status = 200 }",
        "access_log = false",
        "[[route]]",
        "proxy = \"backend\"",
    ]));
    let logged: Vec<bool> = config.routes.iter().map(|r| r.access_log).collect();
    assert_eq!(logged, [false, true]);
    let src = with_base(&["[[route]]", "proxy = \"backend\"", "access_log = \"no\""]);
    assert_error_like(
        &src,
        "t.toml:10:14: route[0].access_log: invalid type: string",
        "a boolean",
    );
}

#[test]
fn request_id_header_is_stored_lower_case() {
    let config = ok(&with_base(&[
        "[request_id]",
        "enabled = false",
        "header = \"X-Correlation-ID\"",
    ]));
    assert_eq!(
        config.request_id,
        RequestIdConfig {
            enabled: false,
            header: "x-correlation-id".into()
        }
    );
    let config = ok(&with_base(&["[request_id]"]));
    assert_eq!(config.request_id, RequestIdConfig::default());
}

#[test]
fn request_id_header_must_be_a_field_name() {
    let src = with_base(&["[request_id]", "header = \"x request id\""]);
    assert_error(
        &src,
        "t.toml:9:10: request_id.header: \"x request id\" is not a valid header name: ' ' is not \
         allowed (RFC 9110 §5.1)",
    );
    let src = with_base(&["[request_id]", "header = \"\""]);
    assert_error(&src, "t.toml:9:10: request_id.header: empty header name");
}

#[test]
fn request_id_header_cannot_be_one_the_proxy_manages() {
    for name in ["Content-Length", "host", "connection"] {
        let src = with_base(&["[request_id]", &format!("header = {name:?}")]);
        let lower = name.to_ascii_lowercase();
        assert_error(
            &src,
            &format!(
                "t.toml:9:10: request_id.header: `{lower}` cannot carry a request id: the proxy \
                 reads or writes it itself"
            ),
        );
    }
    let src = with_base(&["[request_id]", "enabled = \"yes\""]);
    assert_error_like(
        &src,
        "t.toml:9:11: request_id.enabled: invalid type: string",
        "a boolean",
    );
}
