//! An access log whose output stops taking lines (a pipe nobody reads) must
//! cost lines, never requests: shards drop and count what does not fit, and
//! a graceful stop still ends.

use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shardgate_testkit::{each_driver, Client, Driver, Gateway};

/// The dropped-lines counter is process-wide: the two driver halves take turns.
static SERIAL: Mutex<()> = Mutex::new(());

const O_NONBLOCK: i32 = 0o4000;
const REQUESTS: usize = 4000;

const CONFIG: &str = r#"
[access_log]
path = "${FIFO}"
format = "json"

[admin]
address = "127.0.0.1:0"

[[listener]]
name = "public"
address = "127.0.0.1:0"

[[route]]
respond = { status = 200, body = "ok" }
"#;

fn dropped(gw: &Gateway) -> u64 {
    let mut c = Client::connect(gw.admin().unwrap()).unwrap();
    let r = c.get("admin", "/metrics").unwrap();
    String::from_utf8_lossy(&r.body)
        .lines()
        .filter(|l| l.starts_with("shardgate_access_log_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn blocked_pipe_drops_and_counts_lines_and_loses_no_request(driver: Driver) {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("shardgate-pipe-{}-{driver}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("access.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // A reader that never reads: the gateway's open succeeds, then the pipe
    // fills (64 KiB) and every write blocks.
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let mut gw = Gateway::builder(CONFIG)
        .var("FIFO", fifo.display())
        .driver(driver)
        .start()
        .unwrap();
    let before = dropped(&gw);
    let mut c = Client::connect(gw.addr("public")).unwrap();
    for i in 0..REQUESTS {
        let r = c.get("a", &format!("/r{i}")).unwrap();
        assert_eq!(r.status, 200, "request {i}");
    }
    // 64 KiB of pipe and 4 × 64 KiB of shard buffers hold ~1,100 lines of
    // ~300 B; the rest were dropped and counted, and nobody waited.
    let lost = dropped(&gw) - before;
    assert!(
        lost >= (REQUESTS as u64) / 2,
        "only {lost} of {REQUESTS} lines counted as dropped"
    );
    let stop = Instant::now();
    gw.stop();
    assert!(
        stop.elapsed() < Duration::from_secs(15),
        "a stuck access log held the stop for {:?}",
        stop.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

each_driver!(blocked_pipe_drops_and_counts_lines_and_loses_no_request);
