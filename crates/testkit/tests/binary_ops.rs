//! What operators see of the running binary: reload outcomes on /metrics,
//! log formats, and the rate limit on the TLS library's per-client warnings.
//! Each test runs its own process, so every count is exact.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use shardgate_testkit::binary::Running;
use shardgate_testkit::{free_port, tools, wait_until, TestCert};

/// Starts `shardgate run` on `config`, stdout and stderr going to files in
/// `dir` (read after it stopped), and waits for /ready.
fn spawn(dir: &Path, config: &Path, admin: u16, extra: &[&str]) -> Running {
    Running::start(config, admin, extra, Some(dir)).unwrap()
}

/// Writes `text` to the config file, sends SIGHUP, and waits until the
/// counter `metric` reads 1.
fn hup_until(child: &Running, path: &Path, text: &str, admin: u16, metric: &str) {
    std::fs::write(path, text).unwrap();
    child.signal("HUP").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || sample(&metrics(admin), metric)
            == Some(1.0)),
        "{metric} did not reach 1: {}",
        metrics(admin)
    );
}

/// SIGTERM, a clean exit, then everything the process wrote.
fn stop(mut child: Running, dir: &Path) -> (String, String) {
    child.signal("TERM").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || matches!(
            child.0.try_wait(),
            Ok(Some(_))
        )),
        "still running 10 s after SIGTERM"
    );
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    let read = |f| std::fs::read_to_string(dir.join(f)).unwrap();
    (read("stdout"), read("stderr"))
}

fn metrics(admin: u16) -> String {
    tools::curl(&[&format!("http://127.0.0.1:{admin}/metrics")])
        .unwrap()
        .body_str()
}

/// The value on a sample line without labels, if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn reloads_and_failed_reloads_are_counted_and_the_generation_shown() {
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let cfg = |body: &str| {
        format!(
            r#"
[admin]
address = "127.0.0.1:{admin}"
[server]
shards = 1
[[listener]]
name = "public"
address = "127.0.0.1:{port}"
[[route]]
respond = {{ status = 200, body = "{body}" }}
"#
        )
    };
    let dir = tools::TempDir::new("reload-metrics").unwrap();
    let path = dir.write("gw.toml", cfg("v1")).unwrap();
    let child = spawn(dir.path(), &path, admin, &["--log-format", "json"]);
    let url = format!("http://127.0.0.1:{port}/");
    let body = || tools::curl(&[&url]).unwrap().body_str();
    assert_eq!(body(), "v1");
    let m = metrics(admin);
    assert_eq!(sample(&m, "shardgate_config_generation"), Some(1.0), "{m}");
    assert!(
        m.contains("# HELP shardgate_config_reload_failures_total "),
        "{m}"
    );

    // A file that does not parse: counted, the running config stays.
    hup_until(
        &child,
        &path,
        "[[listener]\nname = ",
        admin,
        "shardgate_config_reload_failures_total",
    );
    let m = metrics(admin);
    assert_eq!(sample(&m, "shardgate_config_generation"), Some(1.0), "{m}");
    assert_eq!(
        sample(&m, "shardgate_config_reloads_total"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(body(), "v1");

    // A valid one: generation 2.
    hup_until(
        &child,
        &path,
        &cfg("v2"),
        admin,
        "shardgate_config_reloads_total",
    );
    let m = metrics(admin);
    assert_eq!(sample(&m, "shardgate_config_generation"), Some(2.0), "{m}");
    assert_eq!(
        sample(&m, "shardgate_config_reload_failures_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(body(), "v2");

    let (stdout, stderr) = stop(child, dir.path());
    // Logs go to stderr (stdout is the access log's, when it is `stdout`).
    assert_eq!(stdout, "", "stdout carries no application logs");
    // --log-format json: one object per line, the failed reload among them.
    assert!(!stderr.trim().is_empty());
    for line in stderr.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not JSON: {line}"
        );
    }
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("\"level\":\"ERROR\"") && l.contains("reload failed")),
        "{stderr}"
    );
}

/// A client that sends an IP literal as SNI makes rustls warn on every
/// handshake; the binary logs one such line per 10 s and counts them all.
#[test]
fn tls_library_warnings_are_counted_and_rate_limited() {
    let cert = TestCert::new(&["localhost"]).unwrap();
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let cfg = format!(
        r#"
[admin]
address = "127.0.0.1:{admin}"
[server]
shards = 1
[[listener]]
name = "tls"
address = "127.0.0.1:{port}"
[listener.tls]
certificates = [{}]
[[route]]
respond = {{ status = 200, body = "secure\n" }}
"#,
        cert.toml()
    );
    let dir = tools::TempDir::new("tls-warn").unwrap();
    let path = dir.write("gw.toml", &cfg).unwrap();
    let child = spawn(dir.path(), &path, admin, &[]);

    const HANDSHAKES: usize = 50;
    for i in 0..HANDSHAKES {
        // curl never sends an IP literal as SNI; openssl does when told to.
        let out = Command::new("openssl")
            .args(["s_client", "-brief", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-servername", "127.0.0.1"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "handshake {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let m = metrics(admin);
    let warnings = sample(&m, "shardgate_tls_library_warnings_total").unwrap_or(0.0);
    assert!(warnings >= HANDSHAKES as f64, "{warnings}:\n{m}");
    assert!(
        m.contains("# HELP shardgate_tls_library_warnings_total "),
        "{m}"
    );

    let (stdout, stderr) = stop(child, dir.path());
    let all = format!("{stdout}{stderr}");
    let lines = all.lines().filter(|l| l.contains("Illegal SNI")).count();
    // The first is logged (the bridge from `log` works), the rest held back.
    assert!((1..=2).contains(&lines), "{lines} lines:\n{all}");
    // The admin thread waits in accept; it does not poll a non-blocking socket.
    assert!(!all.contains("admin accept failed"), "{all}");
    // Not a terminal: no colour codes.
    assert!(!all.contains('\x1b'), "{all}");
}
