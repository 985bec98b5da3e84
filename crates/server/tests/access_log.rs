//! The access-log sink with real threads and files: lines arrive whole and in
//! order, logrotate's rename + reopen works, and a stuck output never makes a
//! shard wait (lines are dropped and counted instead).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use shardgate_config::AccessLogPath;
use shardgate_server::access_log::{Sink, BUFFERS_PER_SHARD, BUFFER_SIZE, MAX_LINE};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sg-access-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn lines_of_many_shards_arrive_whole_and_in_order() {
    const SHARDS: usize = 4;
    const LINES: u64 = 20_000;
    let dir = TempDir::new("order");
    let file = dir.0.join("access.log");
    let sink = Arc::new(Sink::open(&AccessLogPath::File(file.clone()), SHARDS).unwrap());
    let threads: Vec<_> = (0..SHARDS)
        .map(|shard| {
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut log = sink.shard_log(shard);
                for seq in 0..LINES {
                    log.line(|b| {
                        write!(
                            b,
                            "{{\"shard\":{shard},\"seq\":{seq},\"pad\":\"{}\"}}",
                            "x".repeat(seq as usize % 300)
                        )
                        .unwrap()
                    });
                    if seq % 1000 == 0 {
                        log.flush();
                    }
                }
                log.flush();
                log.dropped()
            })
        })
        .collect();
    let dropped: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    sink.close();
    let text = read(&file);
    let mut next = [0u64; SHARDS];
    let mut seen = [0u64; SHARDS];
    for line in text.lines() {
        let shard: usize = field(line, "\"shard\":").parse().unwrap();
        let seq: u64 = field(line, "\"seq\":").parse().unwrap();
        assert!(
            seq >= next[shard],
            "shard {shard}: {seq} after {}",
            next[shard]
        );
        let pad = line.split("\"pad\":\"").nth(1).unwrap();
        assert_eq!(
            pad,
            format!("{}\"}}", "x".repeat(seq as usize % 300)),
            "torn line {line:?}"
        );
        next[shard] = seq + 1;
        seen[shard] += 1;
    }
    for shard in 0..SHARDS {
        assert_eq!(seen[shard] + dropped[shard], LINES, "shard {shard}");
    }
    assert!(text.ends_with('\n'));
    assert_eq!(sink.write_errors(), 0);
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let rest = line.split(name).nth(1).unwrap();
    rest.split([',', '}']).next().unwrap()
}

#[test]
fn reopen_after_a_rename_writes_to_a_new_file_at_the_path() {
    let dir = TempDir::new("rotate");
    let file = dir.0.join("access.log");
    let rotated = dir.0.join("access.log.1");
    let sink = Sink::open(&AccessLogPath::File(file.clone()), 1).unwrap();
    let mut log = sink.shard_log(0);
    log.line(|b| b.extend_from_slice(b"before"));
    log.flush();
    wait_for("the first line", || read(&file) == "before\n");
    std::fs::rename(&file, &rotated).unwrap();
    // Until the reopen, lines still go to the renamed file.
    log.line(|b| b.extend_from_slice(b"renamed"));
    log.flush();
    wait_for("the second line", || read(&rotated) == "before\nrenamed\n");
    sink.reopen();
    log.line(|b| b.extend_from_slice(b"after"));
    log.flush();
    drop(log);
    sink.close();
    assert_eq!(read(&rotated), "before\nrenamed\n");
    assert_eq!(read(&file), "after\n");
}

#[test]
fn set_target_switches_files() {
    let dir = TempDir::new("target");
    let (a, b) = (dir.0.join("a.log"), dir.0.join("b.log"));
    let sink = Sink::open(&AccessLogPath::File(a.clone()), 1).unwrap();
    let mut log = sink.shard_log(0);
    log.line(|buf| buf.extend_from_slice(b"one"));
    log.flush();
    wait_for("line one", || read(&a) == "one\n");
    sink.set_target(&AccessLogPath::File(b.clone())).unwrap();
    log.line(|buf| buf.extend_from_slice(b"two"));
    log.flush();
    drop(log);
    sink.close();
    assert_eq!(
        (read(&a), read(&b)),
        ("one\n".to_string(), "two\n".to_string())
    );
    // A file that cannot be opened is an error for the caller (a reload).
    let bad = AccessLogPath::File(dir.0.join("missing/dir/x.log"));
    assert!(Sink::open(&bad, 1).is_err());
}

/// A writer that blocks until the test opens the gate, like a pipe nobody reads.
#[derive(Clone, Default)]
struct Stuck {
    gate: Arc<(Mutex<bool>, Condvar)>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Stuck {
    fn open(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }
}

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (lock, cv) = &*self.gate;
        let _open = cv.wait_while(lock.lock().unwrap(), |open| !*open).unwrap();
        self.written.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stuck_output_never_blocks_a_shard_and_lines_are_dropped_and_counted() {
    let stuck = Stuck::default();
    let sink = Sink::with_writer(Box::new(stuck.clone()), 1).unwrap();
    let mut log = sink.shard_log(0);
    let line = [b'a'; 99];
    // Enough lines to fill every buffer many times over.
    let total = (BUFFERS_PER_SHARD * BUFFER_SIZE / 100 * 10) as u64;
    let started = Instant::now();
    for _ in 0..total {
        log.line(|b| b.extend_from_slice(&line));
    }
    log.flush();
    assert!(started.elapsed() < Duration::from_secs(5), "line() waited");
    let dropped = log.dropped();
    // At most 4 buffers' worth got through; everything else was dropped.
    let room = (BUFFERS_PER_SHARD * BUFFER_SIZE / 100) as u64;
    assert!(dropped >= total - room, "dropped {dropped} of {total}");
    stuck.open();
    drop(log);
    sink.close();
    let written = stuck.written.lock().unwrap().len() as u64;
    assert_eq!(written / 100 + dropped, total);
    assert_eq!(written % 100, 0, "only whole lines");
}

/// A closed pipe: every write fails at once.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_are_counted_and_buffers_still_come_back() {
    let sink = Sink::with_writer(Box::new(Broken), 1).unwrap();
    let mut log = sink.shard_log(0);
    for i in 0..50 {
        log.line(|b| b.extend_from_slice(b"lost"));
        log.flush();
        wait_for("the failed write", || sink.write_errors() == i + 1);
    }
    // The buffers returned after each failure, so nothing had to be dropped.
    assert_eq!(log.dropped(), 0);
}

#[test]
fn over_long_lines_are_dropped_and_the_rest_kept() {
    let dir = TempDir::new("long");
    let file = dir.0.join("access.log");
    let sink = Sink::open(&AccessLogPath::File(file.clone()), 1).unwrap();
    let mut log = sink.shard_log(0);
    log.line(|b| b.extend_from_slice(b"short"));
    // MAX_LINE - 1 bytes plus the newline fits exactly.
    log.line(|b| b.resize(b.len() + MAX_LINE - 1, b'y'));
    log.line(|b| b.resize(b.len() + MAX_LINE, b'z'));
    log.line(|b| b.extend_from_slice(b"end"));
    assert_eq!(log.dropped(), 1);
    drop(log);
    sink.close();
    let text = read(&file);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (lines[0], lines[1].len(), lines[2]),
        ("short", MAX_LINE - 1, "end")
    );
}
