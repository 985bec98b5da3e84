//! `--log-target stdout` (what the container image sets): the binary's
//! application logs and an `[access_log] path = "stdout"` share stdout line by
//! line under load, with reloads logging in the middle of the access lines;
//! stderr stays empty. (The default, stderr, is checked in binary_ops.rs.)

use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use shardgate_testkit::binary::Running;
use shardgate_testkit::{each_driver, free_port, tools, wait_until, Driver};

const RELOADS: usize = 10;

fn config(driver: Driver, public: u16, admin: u16, generation: usize) -> String {
    format!(
        r#"
[server]
driver = "{driver}"
shards = 2

[admin]
address = "127.0.0.1:{admin}"

[[listener]]
name = "public"
address = "127.0.0.1:{public}"

[access_log]
path = "stdout"
format = "json"

[[route]]
name = "static"
respond = {{ status = 200, body = "generation {generation}\n" }}
"#
    )
}

fn metrics(admin: u16) -> String {
    tools::curl(&[&format!("http://127.0.0.1:{admin}/metrics")])
        .unwrap()
        .body_str()
}

/// The sum of every sample of `name` (labelled or not).
fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

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

fn logs_and_access_lines_share_stdout(driver: Driver) {
    let (public, admin) = (free_port().unwrap(), free_port().unwrap());
    let dir = tools::TempDir::new(&format!("log-target-{driver}")).unwrap();
    let path = dir
        .write("gw.toml", config(driver, public, admin, 1))
        .unwrap();
    // `--log info`: the test harness sets SHARDGATE_LOG=warn.
    let extra = ["--log-target", "stdout", "--log", "info"];
    let child = Running::start(&path, admin, &extra, Some(dir.path())).unwrap();

    let url = format!("http://127.0.0.1:{public}/");
    let load = std::thread::spawn(move || {
        tools::wrk_with_timeout(&url, 4, 8, 1, Some(Duration::from_secs(10)))
    });
    // Reload lines land among the access lines while wrk runs.
    for generation in 2..=RELOADS + 1 {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&path, config(driver, public, admin, generation)).unwrap();
        child.signal("HUP").unwrap();
        let want = format!("shardgate_config_generation {generation}\n");
        assert!(
            wait_until(Duration::from_secs(5), || metrics(admin).contains(&want)),
            "generation {generation} never went live"
        );
    }
    let report = match load.join().unwrap() {
        Ok(r) => r,
        // Seen once in CI (wrk's first connect refused right after /ready
        // said 200): what the gateway logged says why, next time.
        Err(e) => panic!(
            "wrk: {e}\ngateway stderr:\n{}\ngateway stdout (start):\n{}",
            std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("stdout"))
                .unwrap_or_default()
                .chars()
                .take(4000)
                .collect::<String>()
        ),
    };
    assert_eq!(report.non_2xx_3xx, 0, "{}", report.output);
    assert_eq!(report.socket_errors, [0; 4], "{}", report.output);
    assert!(report.requests > 100, "{}", report.output);
    let dropped = sum(&metrics(admin), "shardgate_access_log_dropped_total");

    let (stdout, stderr) = stop(child, dir.path());
    assert_eq!(
        stderr, "",
        "stderr carries nothing with --log-target stdout"
    );

    let text_line =
        Regex::new(r"^\d{4}-\d\d-\d\dT[\d:.]+Z +(TRACE|DEBUG|INFO|WARN|ERROR) ").unwrap();
    let (mut access, mut logs) = (0u64, Vec::new());
    for line in stdout.lines() {
        if line.starts_with('{') {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a broken access line ({e}): {line:?}"));
            assert_eq!(v["status"], 200, "{line}");
            access += 1;
        } else {
            assert!(
                text_line.is_match(line),
                "neither an access nor a log line: {line:?}"
            );
            logs.push(line);
        }
    }
    let count = |what: &str| logs.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("INFO shard serving"), 2, "{logs:#?}");
    assert_eq!(count("INFO config reloaded"), RELOADS, "{logs:#?}");
    assert_eq!(count("INFO graceful stop"), 1, "{logs:#?}");
    assert!(
        logs.last().is_some_and(|l| l.ends_with("INFO stopped")),
        "{logs:#?}"
    );
    // Every request wrk counted has its line, or was counted as dropped.
    assert!(
        access as f64 + dropped >= report.requests as f64,
        "{access} access lines + {dropped} dropped < {} requests",
        report.requests
    );
}

each_driver!(logs_and_access_lines_share_stdout);
