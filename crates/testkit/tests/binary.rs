//! The `shardgate` executable as users run it: check, version, run + signals.

use std::time::Duration;

use shardgate_testkit::binary::{shardgate_command, workspace_root, Running};
use shardgate_testkit::{free_port, tools, wait_until};

#[test]
fn check_accepts_the_reference_config() {
    let out = shardgate_command()
        .unwrap()
        .args(["check", "--config", "config/shardgate.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_reports_every_error_with_its_location() {
    let dir = tools::TempDir::new("check").unwrap();
    let path = dir
        .write(
            "broken.toml",
            "[server.timeouts]\nheader_read = 10\n\n[[listener]]\nname = \"public\"\naddress = \"127.0.0.1:0\"\n\n[[route]]\nproxy = \"bakend\"\n",
        )
        .unwrap();
    let out = shardgate_command()
        .unwrap()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("{file}:2:15: server.timeouts.header_read: ")),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("{file}:9:9: route[0].proxy: ")),
        "{stderr}"
    );
    assert!(lines[1].contains("bakend"), "{stderr}");
}

#[test]
fn version_prints_the_version() {
    let out = shardgate_command()
        .unwrap()
        .arg("version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("shardgate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn run_serves_the_reference_config_reloads_on_hup_and_stops_on_term() {
    let reference =
        std::fs::read_to_string(workspace_root().join("config/shardgate.toml")).unwrap();
    // The reference config uses fixed ports; give it free ones.
    let (public, internal, admin) = (
        free_port().unwrap(),
        free_port().unwrap(),
        free_port().unwrap(),
    );
    let cfg = reference
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{public}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{internal}"))
        .replace("127.0.0.1:9901", &format!("127.0.0.1:{admin}"));
    let dir = tools::TempDir::new("run").unwrap();
    let path = dir.write("gw.toml", &cfg).unwrap();
    let mut child = Running::start(&path, admin, &[], None).unwrap();
    let base = format!("http://127.0.0.1:{public}");
    let root = tools::curl(&[&format!("{base}/")]).unwrap();
    assert_eq!(
        (root.status, root.body_str().as_str()),
        (200, "shardgate is running\n")
    );
    let proxied = tools::curl(&[&format!("{base}/proxied/x")]).unwrap();
    assert_eq!(
        (proxied.status, proxied.body_str().as_str()),
        (200, "hello from behind the proxy\n")
    );

    // SIGHUP reloads the file.
    std::fs::write(&path, cfg.replace("shardgate is running\\n", "reloaded\\n")).unwrap();
    child.signal("HUP").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || tools::curl(&[&format!(
            "{base}/"
        )])
        .is_ok_and(|o| o.body == b"reloaded\n")),
        "SIGHUP did not reload"
    );

    child.signal("TERM").unwrap();
    let exited = wait_until(Duration::from_secs(10), || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(exited, "still running 10 s after SIGTERM");
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}
