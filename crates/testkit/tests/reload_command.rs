//! `shardgate reload` against a running binary: through the admin listener
//! (a good edit applied with its generation, a broken file refused with its
//! errors while the old config serves, a bearer token sent from
//! `token_file`, an unreachable listener), and by SIGHUP to the PID file
//! when the config has no `[admin]` section.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use shardgate_testkit::binary::{shardgate_command, Running};
use shardgate_testkit::{each_driver, free_port, tools, wait_until, Driver};

fn reload(config: &Path, extra: &[&str]) -> Output {
    shardgate_command()
        .unwrap()
        .args(["reload", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn get(port: u16, path: &str) -> (u16, String) {
    let out = tools::curl(&[&format!("http://127.0.0.1:{port}{path}")]).unwrap();
    (out.status, out.body_str())
}

/// `head` goes into `[server]`, `admin` is (port, more `[admin]` keys),
/// `routes` come after the listener.
fn config(
    driver: Driver,
    port: u16,
    admin: Option<(u16, &str)>,
    head: &str,
    routes: &str,
) -> String {
    let admin = admin.map_or(String::new(), |(a, extra)| {
        format!("[admin]\naddress = \"127.0.0.1:{a}\"\n{extra}\n")
    });
    format!(
        "[server]\nshards = 1\ndriver = \"{driver}\"\n{head}\n{admin}\
         [[listener]]\nname = \"public\"\naddress = \"127.0.0.1:{port}\"\n{routes}"
    )
}

const V1: &str = "[[route]]\npath_prefix = \"/old\"\nrespond = { status = 200, body = \"v1\" }\n";
const V2: &str = "[[route]]\npath_prefix = \"/new\"\nrespond = { status = 200, body = \"new\" }\n\
                  [[route]]\npath_prefix = \"/old\"\nrespond = { status = 200, body = \"v2\" }\n";

fn through_the_admin_listener(driver: Driver) {
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let dir = tools::TempDir::new(&format!("reload-cmd-{driver}")).unwrap();
    dir.write("admin.token", "s3cret\n").unwrap();
    let token = Some((admin, "token_file = \"admin.token\""));
    let path = dir
        .write("gw.toml", config(driver, port, token, "", V1))
        .unwrap();
    let _child = Running::start(&path, admin, &[], None).unwrap();
    assert_eq!(get(port, "/old"), (200, "v1".to_string()));
    assert_eq!(get(port, "/new").0, 404);

    // A good edit, with the token from token_file: generation 2, serving.
    dir.write("gw.toml", config(driver, port, token, "", V2))
        .unwrap();
    let o = reload(&path, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("generation 2 (was 1)"),
        "{}",
        text(&o)
    );
    assert_eq!(get(port, "/new"), (200, "new".to_string()));
    assert_eq!(get(port, "/old"), (200, "v2".to_string()));

    // Without the token (--url, a config without token_file): 401 → 1.
    let url = format!("http://127.0.0.1:{admin}");
    let bare = dir
        .write("bare.toml", config(driver, port, None, "", V1))
        .unwrap();
    let o = reload(&bare, &["--url", &url]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("401"), "{}", text(&o));

    // Broken (a duration without a unit): refused with the place
    // and the key on stderr (line 5, col 13: the value), generation 2 keeps
    // serving.
    let broken = config(driver, port, token, "", V2).replace(
        &format!("driver = \"{driver}\"\n"),
        &format!("driver = \"{driver}\"\n[server.timeouts]\nkeepalive = 30\n"),
    );
    dir.write("gw.toml", &broken).unwrap();
    let o = reload(&path, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let want = format!("{}:5:13: server.timeouts.keepalive: ", path.display());
    assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
    assert!(stderr.contains("generation 2 keeps serving"), "{stderr}");
    assert_eq!(get(port, "/new"), (200, "new".to_string()));
    assert_eq!(get(port, "/old"), (200, "v2".to_string()));
}

each_driver!(through_the_admin_listener);

#[test]
fn an_unreachable_admin_listener_is_2() {
    let dir = tools::TempDir::new("reload-cmd-unreachable").unwrap();
    let path = dir
        .write("gw.toml", "[admin]\naddress = \"127.0.0.1:1\"\n")
        .unwrap();
    let o = reload(&path, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot connect"), "{}", text(&o));
    // With --url the config file is only read for a token: it may be absent.
    let missing = dir.path().join("missing.toml");
    let o = reload(&missing, &["--url", "http://127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

fn by_sighup_without_an_admin_section(driver: Driver) {
    let port = free_port().unwrap();
    let dir = tools::TempDir::new(&format!("reload-cmd-hup-{driver}")).unwrap();
    let head = "pid_file = \"gw.pid\"";
    let path = dir
        .write("gw.toml", config(driver, port, None, head, V1))
        .unwrap();
    let child = shardgate_command()
        .unwrap()
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Running(child);
    let pid_file = dir.path().join("gw.pid");
    let serving = wait_until(Duration::from_secs(10), || {
        pid_file.exists() && tools::curl(&[&format!("http://127.0.0.1:{port}/old")]).is_ok()
    });
    assert!(serving, "never served with its PID file written");
    assert_eq!(get(port, "/new").0, 404);

    dir.write("gw.toml", config(driver, port, None, head, V2))
        .unwrap();
    let o = reload(&path, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = text(&o);
    let pid = child.0.id();
    assert!(
        said.contains(&format!("SIGHUP to PID {pid}")) && said.contains("logs"),
        "{said}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || get(port, "/new")
            == (200, "new".to_string())),
        "the SIGHUP reload never applied"
    );
    assert_eq!(get(port, "/old"), (200, "v2".to_string()));
}

each_driver!(by_sighup_without_an_admin_section);
