//! The admin API as operators use the binary: `shardgate health` (the
//! container HEALTHCHECK) against a ready, a draining and a dead gateway,
//! `POST /drain` ending the process like SIGTERM, and `shardgate check`
//! locating a bad `token_file`.

use std::process::Output;
use std::time::Duration;

use shardgate_testkit::binary::{shardgate_command, Running};
use shardgate_testkit::{
    each_driver, free_port, handler, handlers, tools, wait_until, Client, Driver, Gate, Origin,
};

fn health(args: &[&str]) -> Output {
    shardgate_command()
        .unwrap()
        .arg("health")
        .args(args)
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

fn health_and_drain_follow_the_process(driver: Driver) {
    let gate = Gate::new();
    let slow = handlers::gated(gate.clone(), handlers::fixed(200, &[], b"done"));
    let origin = Origin::start(handler(move |req, r| slow(req, r))).unwrap();
    let (port, admin) = (free_port().unwrap(), free_port().unwrap());
    let dir = tools::TempDir::new(&format!("admin-binary-{driver}")).unwrap();
    let cfg = dir
        .write(
            "gw.toml",
            format!(
                r#"
[server]
shards = 1
driver = "{driver}"
[admin]
address = "0.0.0.0:{admin}"
[[listener]]
name = "public"
address = "127.0.0.1:{port}"
[[route]]
proxy = "origin"
[[upstream]]
name = "origin"
servers = ["{up}"]
"#,
                up = origin.addr()
            ),
        )
        .unwrap();
    let cfg_arg = cfg.display().to_string();
    let mut child = Running::start(&cfg, admin, &[], None).unwrap();

    // Ready: by the config's [admin] address (0.0.0.0 probed on loopback),
    // and by --url.
    let o = health(&["--config", &cfg_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ready"), "{}", text(&o));
    let url = format!("http://127.0.0.1:{admin}/ready");
    let o = health(&["--url", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A request in flight, then a drain through the admin API.
    let mut busy = Client::connect(format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
    busy.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(origin.wait_requests(1, Duration::from_secs(3)));
    let drain = format!("http://127.0.0.1:{admin}/drain");
    let out = tools::curl(&["-X", "POST", &drain]).unwrap();
    assert_eq!(out.status, 202, "{}", out.body_str());

    // Draining: alive but not ready → exit 1 with the 503.
    let o = health(&["--config", &cfg_arg]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("503") && text(&o).contains("draining"),
        "{}",
        text(&o)
    );
    assert!(
        matches!(child.0.try_wait(), Ok(None)),
        "exited with a request in flight"
    );

    // The request finishes; the process exits 0 as after SIGTERM.
    gate.open();
    let r = busy.response().unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"done"[..]));
    assert!(
        wait_until(Duration::from_secs(10), || matches!(
            child.0.try_wait(),
            Ok(Some(_))
        )),
        "still running after POST /drain"
    );
    assert_eq!(child.0.wait().unwrap().code(), Some(0));

    // Dead: nothing listens → exit 1, saying so, well within the timeout.
    let started = std::time::Instant::now();
    let o = health(&["--url", &url]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("cannot connect"), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(5));
}

each_driver!(health_and_drain_follow_the_process);

#[test]
fn health_without_an_admin_section_or_reachable_listener_is_1() {
    let dir = tools::TempDir::new("admin-binary-noadmin").unwrap();
    let cfg = dir
        .write(
            "gw.toml",
            "[[listener]]\nname = \"p\"\naddress = \"127.0.0.1:1\"\n",
        )
        .unwrap();
    let o = health(&["--config", &cfg.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no [admin] section"), "{}", text(&o));
    // A black hole (nothing answers, nothing refuses) is bounded by 2 s.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ready", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let o = health(&["--url", &url]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn check_locates_a_bad_token_file() {
    let dir = tools::TempDir::new("admin-binary-check").unwrap();
    dir.write("empty.token", "\n").unwrap();
    let cfg = dir
        .write(
            "gw.toml",
            "[admin]\ntoken_file = \"empty.token\"\n[[listener]]\nname = \"p\"\naddress = \"127.0.0.1:8080\"\n[[route]]\nrespond = { status = 200 }\n",
        )
        .unwrap();
    let o = shardgate_command()
        .unwrap()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!("{}:2:14: admin.token_file: ", cfg.display());
    assert!(text(&o).contains(&want), "{}", text(&o));
}
