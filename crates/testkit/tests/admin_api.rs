//! The admin API's surface: every endpoint with its methods and content
//! type, `/config` (the file, its hash, load time, the effective config with
//! secrets redacted), and the bearer token (`[admin] token_file`).

mod admin_support;

use std::process::Command;

use admin_support::{admin, call, curl_post, get_json, json, metric};
use shardgate_testkit::tools::TempDir;
use shardgate_testkit::{start_file, Gateway, TestCert};

const CFG: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
name = "api-surface"
respond = { status = 200, body = "hi" }
"#;

#[test]
fn every_endpoint_answers_its_methods_with_its_content_type() {
    let gw = Gateway::builder(CFG).start().unwrap();
    let a = admin(&gw);
    let r = call(a, "GET", "/healthz", None);
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok\n"));
    let ready = get_json(a, "/ready", None);
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["generation"], 1);
    let r = call(a, "GET", "/metrics", None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(get_json(a, "/config", None)["generation"], 1);
    assert_eq!(call(a, "GET", "/config/generation", None).body_str(), "1\n");
    assert!(get_json(a, "/upstreams", None)["upstreams"].is_array());
    let shards = get_json(a, "/shards", None);
    assert_eq!(shards["shards"].as_array().unwrap().len(), 1, "{shards}");

    // HEAD: the GET's headers, no body.
    let mut c = shardgate_testkit::Client::connect(a).unwrap();
    let r = c
        .request(b"HEAD /shards HTTP/1.1\r\nhost: a\r\n\r\n")
        .unwrap();
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/json"))
    );
    assert_eq!(c.read_to_close().unwrap(), b"");

    // Wrong methods: 405 with what the path takes.
    for (method, path, allow) in [
        ("GET", "/reload", "POST"),
        ("GET", "/drain", "POST"),
        ("HEAD", "/drain", "POST"),
        ("POST", "/config", "GET, HEAD"),
        ("DELETE", "/shards", "GET, HEAD"),
        ("PUT", "/ready", "GET, HEAD"),
    ] {
        let r = call(a, method, path, None);
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    assert_eq!(call(a, "GET", "/nope", None).status, 404);
    assert_eq!(call(a, "POST", "/nope", None).status, 404);
    // The GETs did not drain anything.
    assert_eq!(get_json(a, "/ready", None)["ready"], true);

    // Started from a config in memory: there is no file to reload. Refused,
    // counted, and nothing changes.
    let failures = metric(a, "shardgate_config_reload_failures_total", None);
    let (status, body) = curl_post(a, "/reload", None);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["reloaded"], false);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("not loaded from a file"));
    assert_eq!(
        get_json(a, "/config", None)["file"],
        serde_json::Value::Null
    );
    assert!(metric(a, "shardgate_config_reload_failures_total", None) > failures);
}

fn sha256sum(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn config_shows_the_file_its_hash_and_the_effective_config_redacted() {
    let dir = TempDir::new("admin-config").unwrap();
    let cert = TestCert::new(&["localhost"]).unwrap();
    let token = "tok-3b1f0c9e2d";
    dir.write("admin.token", format!("{token}\n")).unwrap();
    let text = format!(
        r#"
[server]
shards = 1
[server.timeouts]
keepalive = "1m30s"

[admin]
address = "127.0.0.1:0"
token_file = "admin.token"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[listener]]
name = "secure"
address = "127.0.0.1:0"
[listener.tls]
certificates = [{certs}]

[[route]]
name = "config-shown"
respond = {{ status = 200, body = "hi" }}
"#,
        certs = cert.toml()
    );
    let path = dir.write("gw.toml", &text).unwrap();
    let gw = start_file(&path, None).unwrap();
    let a = admin(&gw);

    let doc = get_json(a, "/config", Some(token));
    assert_eq!(doc["generation"], 1);
    let file = &doc["file"];
    assert_eq!(file["path"], path.display().to_string());
    assert_eq!(file["sha256"], sha256sum(&path), "{file}");
    assert_eq!(file["generation"], 1);
    // RFC 3339 in UTC with milliseconds: 2026-11-30T10:20:30.123Z
    let at = file["loaded_at"].as_str().unwrap();
    let b = at.as_bytes();
    assert!(
        at.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && at.ends_with('Z'),
        "{at}"
    );
    let today = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    let today = String::from_utf8(today.stdout).unwrap();
    assert!(
        at.starts_with(today.trim()) || at < today.trim(),
        "{at} vs {today}"
    );

    let cfg = &doc["config"];
    // Effective: what the file says, and the defaults it did not set.
    assert_eq!(cfg["server"]["timeouts"]["keepalive"], "1m30s");
    assert_eq!(cfg["server"]["timeouts"]["shutdown_grace"], "30s");
    assert_eq!(
        cfg["server"]["limits"]["max_headers"],
        shardgate_config::ServerConfig::default().limits.max_headers
    );
    assert_eq!(cfg["routes"][0]["name"], "config-shown");
    assert_eq!(cfg["listeners"][1]["protocol"], "http");
    // Secrets: the token is redacted, key material absent, paths shown.
    assert_eq!(cfg["admin"]["token"], "[redacted]");
    assert_eq!(
        cfg["admin"]["token_file"],
        dir.path().join("admin.token").display().to_string()
    );
    let c0 = &cfg["listeners"][1]["tls"]["certificates"][0];
    assert_eq!(c0["key_path"], cert.key.display().to_string(), "{c0}");
    assert!(c0.get("key").is_none(), "{c0}");
    let body = call(a, "GET", "/config", Some(token)).body_str();
    assert!(!body.contains(token), "the token leaked: {body}");
    assert!(
        !body.contains("PRIVATE KEY") && !body.contains("BEGIN"),
        "{body}"
    );
}

#[test]
fn the_token_guards_everything_but_healthz_and_ready() {
    let dir = TempDir::new("admin-token").unwrap();
    let token = "s3cret-token-1";
    let token_path = dir.write("token", format!("  {token}\n")).unwrap();
    let text = r#"
[server]
shards = 1
[admin]
address = "127.0.0.1:0"
token_file = "token"
[[listener]]
name = "public"
address = "127.0.0.1:0"
[[route]]
name = "token-guarded"
respond = { status = 200, body = "hi" }
"#;
    let path = dir.write("gw.toml", text).unwrap();
    let gw = start_file(&path, None).unwrap();
    let a = admin(&gw);
    let unauthorized = || metric(a, "shardgate_admin_unauthorized_total", Some(token));
    let before = unauthorized();

    // Probes need no credentials.
    assert_eq!(call(a, "GET", "/healthz", None).status, 200);
    assert_eq!(call(a, "GET", "/ready", None).status, 200);

    let guarded = [
        ("GET", "/metrics"),
        ("GET", "/config"),
        ("GET", "/config/generation"),
        ("GET", "/upstreams"),
        ("GET", "/shards"),
        ("POST", "/reload"),
        ("POST", "/drain"),
    ];
    // Same length as the real token, one byte off.
    let wrong = "s3cret-token-2";
    assert_eq!(wrong.len(), token.len());
    for (method, p) in guarded {
        for presented in [None, Some(wrong), Some("s3cret"), Some("")] {
            let r = call(a, method, p, presented);
            assert_eq!(r.status, 401, "{method} {p} with {presented:?}");
            assert!(
                r.header("www-authenticate").unwrap().starts_with("Bearer"),
                "{method} {p}"
            );
        }
    }
    // Nothing was drained or reloaded by the refused calls.
    assert_eq!(json(&call(a, "GET", "/ready", None))["ready"], true);
    assert_eq!(
        call(a, "GET", "/config/generation", Some(token)).body_str(),
        "1\n"
    );
    let after = unauthorized();
    assert!(after - before >= 28.0, "unauthorized {before} -> {after}");

    // The right token, as curl sends it.
    let url = format!("http://{a}/metrics");
    let auth = format!("Authorization: Bearer {token}");
    let out = shardgate_testkit::tools::curl(&["-H", &auth, &url]).unwrap();
    assert_eq!(out.status, 200);
    for p in ["/config", "/upstreams", "/shards"] {
        assert_eq!(call(a, "GET", p, Some(token)).status, 200, "{p}");
    }

    // A reload reads the token file again.
    let new = "rotated-token-77";
    std::fs::write(&token_path, new).unwrap();
    let (status, body) = curl_post(a, "/reload", Some(token));
    assert_eq!(
        (status, &body["generation"]),
        (200, &serde_json::json!(2)),
        "{body}"
    );
    assert_eq!(call(a, "GET", "/shards", Some(token)).status, 401);
    assert_eq!(call(a, "GET", "/shards", Some(new)).status, 200);
}
