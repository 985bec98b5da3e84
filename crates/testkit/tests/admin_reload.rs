//! `POST /reload`: SIGHUP's path over HTTP. A good file is applied and
//! answered with its generation; a broken one is refused with every
//! diagnostic as JSON, the old config keeps serving and the failure is
//! counted; a change that needs a restart is refused; concurrent reloads
//! are serialized.

mod admin_support;

use std::path::Path;
use std::sync::Mutex;

use admin_support::{admin, call, curl_post, get_json, metric};
use shardgate_testkit::tools::TempDir;
use shardgate_testkit::{each_driver, start_file, Client, Driver};

/// Held by tests that measure the process-wide reload counters.
static COUNTERS: Mutex<()> = Mutex::new(());

fn config(driver: Driver, shards: usize, body: &str) -> String {
    format!(
        r#"
[server]
shards = {shards}
driver = "{driver}"

[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "reload-{driver}"
respond = {{ status = 200, body = "{body}" }}
"#
    )
}

fn body(addr: std::net::SocketAddr) -> String {
    Client::connect(addr)
        .unwrap()
        .get("a", "/")
        .unwrap()
        .body_str()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn a_good_file_is_applied_and_a_broken_one_refused_with_its_errors(driver: Driver) {
    let _counters = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new(&format!("admin-reload-{driver}")).unwrap();
    let path = dir.write("gw.toml", config(driver, 1, "v1")).unwrap();
    let gw = start_file(&path, Some(driver)).unwrap();
    let (a, public) = (admin(&gw), gw.addr("public"));
    assert_eq!(body(public), "v1");
    let sha1 = get_json(a, "/config", None)["file"]["sha256"].clone();

    write(&path, &config(driver, 1, "v2"));
    let (status, reply) = curl_post(a, "/reload", None);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["reloaded"], true);
    assert_eq!(
        (&reply["generation"], &reply["previous"]),
        (&2.into(), &1.into())
    );
    assert_eq!(body(public), "v2");
    let cfg = get_json(a, "/config", None);
    assert_eq!(cfg["generation"], 2);
    assert_eq!(cfg["file"]["generation"], 2);
    assert_ne!(cfg["file"]["sha256"], sha1, "the new file's hash");

    // Broken: a duration without a unit (line 7: the template starts with
    // an empty line, then 3 of [server], an empty one, the table header)
    // and an unknown key.
    let failures = metric(a, "shardgate_config_reload_failures_total", None);
    let broken = config(driver, 1, "v3").replace(
        "[admin]",
        "[server.timeouts]\nkeepalive = 30\nbogus = 1\n\n[admin]",
    );
    write(&path, &broken);
    let (status, reply) = curl_post(a, "/reload", None);
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["reloaded"], false);
    assert_eq!(reply["generation"], 2, "unchanged");
    let errors = reply["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{reply}");
    let keepalive = errors
        .iter()
        .find(|e| e["key"] == "server.timeouts.keepalive")
        .unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(keepalive["file"], path.display().to_string());
    assert_eq!(
        (&keepalive["line"], &keepalive["col"]),
        (&7.into(), &13.into()),
        "{keepalive}"
    );
    assert!(
        keepalive["message"].as_str().unwrap().contains("unit"),
        "{keepalive}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("bogus")),
        "{reply}"
    );
    assert_eq!(body(public), "v2", "the old config keeps serving");
    assert_eq!(call(a, "GET", "/config/generation", None).body_str(), "2\n");
    assert_eq!(
        metric(a, "shardgate_config_reload_failures_total", None),
        failures + 1.0
    );

    // Valid, but not something a reload can change.
    write(&path, &config(driver, 2, "v4"));
    let (status, reply) = curl_post(a, "/reload", None);
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("restart"),
        "{reply}"
    );
    assert_eq!(body(public), "v2");
    assert_eq!(
        get_json(a, "/config", None)["file"]["sha256"],
        cfg["file"]["sha256"]
    );
    assert_eq!(
        metric(a, "shardgate_config_reload_failures_total", None),
        failures + 2.0
    );

    // A fixed file goes through again.
    write(&path, &config(driver, 1, "v5"));
    assert_eq!(curl_post(a, "/reload", None).1["generation"], 3);
    assert_eq!(body(public), "v5");
}

fn concurrent_reloads_are_serialized(driver: Driver) {
    let dir = TempDir::new(&format!("admin-reload-conc-{driver}")).unwrap();
    let path = dir.write("gw.toml", config(driver, 1, "same")).unwrap();
    let gw = start_file(&path, Some(driver)).unwrap();
    let a = admin(&gw);
    let n = 6;
    let barrier = std::sync::Barrier::new(n);
    let generations: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let (status, reply) = curl_post(a, "/reload", None);
                    assert_eq!(status, 200, "{reply}");
                    reply["generation"].as_u64().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = generations.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (2..2 + n as u64).collect::<Vec<_>>(),
        "{generations:?}"
    );
    let cfg = get_json(a, "/config", None);
    assert_eq!(cfg["generation"], 1 + n as u64);
    assert_eq!(cfg["file"]["generation"], 1 + n as u64);
}

each_driver!(
    a_good_file_is_applied_and_a_broken_one_refused_with_its_errors,
    concurrent_reloads_are_serialized,
);
