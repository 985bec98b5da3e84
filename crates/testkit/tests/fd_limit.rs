//! At the process's file-descriptor limit an idle connection cannot be parked
//! (parking needs a duplicate descriptor): it must keep being served from its
//! task instead of being dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use shardgate_testkit::binary::{shardgate_binary, Running};
use shardgate_testkit::{free_port, tools, wait_until};

fn get(c: &mut TcpStream) -> std::io::Result<String> {
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")?;
    let mut buf = vec![0u8; 512];
    let mut got = 0;
    while !buf[..got].ends_with(b"idle-ok\n") {
        let n = c.read(&mut buf[got..])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok(String::from_utf8_lossy(&buf[..got]).into_owned())
}

#[test]
fn connections_that_cannot_be_parked_stay_served() {
    let port = free_port().unwrap();
    let dir = tools::TempDir::new("fdlimit").unwrap();
    let cfg = format!(
        r#"
[server]
shards = 1
[[listener]]
name = "public"
address = "127.0.0.1:{port}"
[[route]]
respond = {{ status = 200, body = "idle-ok\n" }}
"#
    );
    let path = dir.write("gw.toml", &cfg).unwrap();
    let bin = shardgate_binary().unwrap();
    // A soft limit of 40 descriptors: a few for the runtime, the rest for
    // connections, and none to spare for a parked duplicate.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 40 && exec '{}' run --config '{}'",
            bin.display(),
            path.display()
        ))
        .env("SHARDGATE_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Running(child);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect(addr)
            .and_then(|mut c| get(&mut c))
            .is_ok()),
        "gateway did not come up"
    );
    // Fill the gateway up to its limit: connections beyond it wait in the
    // backlog and get no answer.
    let mut served = Vec::new();
    for _ in 0..36 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        if get(&mut c).is_ok() {
            served.push(c);
        }
    }
    assert!(
        served.len() >= 15 && served.len() < 36,
        "{} connections served: the limit did not bite",
        served.len()
    );
    // Past the hot window every one of them went idle; none could be parked.
    std::thread::sleep(Duration::from_millis(150));
    for (i, c) in served.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let r = get(c).unwrap_or_else(|e| panic!("connection {i} lost while idle: {e}"));
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
}
