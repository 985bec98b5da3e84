//! The access-log sink's life in a running server: opened at start, switched or
//! started by a reload, a reload to a file that cannot be opened refused,
//! reopened on request, closed on shutdown.

use shardgate_config::{AccessLogConfig, AccessLogFormat, AccessLogPath, Config};
use shardgate_server::{Error, Server};

fn config(access_log: Option<AccessLogPath>) -> Config {
    let mut config = shardgate_config::parse(
        r#"
[server]
shards = 1
[[listener]]
name = "public"
address = "127.0.0.1:0"
[[route]]
respond = { status = 200 }
"#,
        "t.toml",
    )
    .unwrap();
    config.access_log = access_log.map(|path| AccessLogConfig {
        path,
        format: AccessLogFormat::Json,
    });
    config
}

#[test]
fn reloads_switch_start_and_refuse_the_access_log_output() {
    let dir = std::env::temp_dir().join(format!("sg-access-log-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));

    // Off at start, on by a reload: the writer starts then.
    let mut server = Server::start(config(None)).unwrap();
    assert_eq!(
        server
            .reload(config(Some(AccessLogPath::File(a.clone()))))
            .unwrap(),
        2
    );
    assert!(a.exists(), "the file is opened by the reload");
    // Another file: opened before the new generation is published.
    assert_eq!(
        server
            .reload(config(Some(AccessLogPath::File(b.clone()))))
            .unwrap(),
        3
    );
    assert!(b.exists());
    // A file that cannot be opened refuses the reload.
    let bad = AccessLogPath::File(dir.join("missing/x.log"));
    let err = server.reload(config(Some(bad))).unwrap_err();
    assert!(matches!(err, Error::AccessLog { .. }), "{err}");
    assert_eq!(server.generation(), 3);
    // Off again: accepted (the writer idles); reopen is harmless either way.
    assert_eq!(server.reload(config(None)).unwrap(), 4);
    server.reopen_access_log();
    server.shutdown();
    server.join();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_cannot_be_opened_fails_start_up() {
    let bad = AccessLogPath::File("/nonexistent-dir/sg/x.log".into());
    let err = Server::start(config(Some(bad))).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("access log /nonexistent-dir/sg/x.log: "),
        "{err}"
    );
}
