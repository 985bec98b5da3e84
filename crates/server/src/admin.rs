//! The admin listener: `/healthz` (the process is up), `/ready` (every shard is
//! serving and the server is not stopping), `/metrics` (Prometheus text),
//! `/config/generation` (which config generation is live). It runs on its own plain thread with
//! blocking I/O: it is not on the request path, and keeping it off the shards
//! means a busy shard cannot make the health check lie.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::ctx::Shared;
use crate::metrics::recorder::PromRecorder;

const POLL: Duration = Duration::from_millis(25);
const IO_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(listener: TcpListener, shared: Arc<Shared>, recorder: Option<&'static PromRecorder>) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!(error = %e, "admin listener unusable");
        return;
    }
    loop {
        if shared.stopping.load(Ordering::Relaxed) {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => serve(stream, &shared, recorder),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn serve(mut stream: TcpStream, shared: &Shared, recorder: Option<&PromRecorder>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let mut buf = [0u8; 2048];
    let mut len = 0;
    while len < buf.len() {
        match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                len += n;
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let (status, body): (u16, String) = match req.parse(&buf[..len]) {
        Ok(httparse::Status::Complete(_)) => route(
            req.method.unwrap_or(""),
            req.path.unwrap_or(""),
            shared,
            recorder,
        ),
        _ => (400, "bad request\n".into()),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes());
}

fn route(
    method: &str,
    path: &str,
    shared: &Shared,
    recorder: Option<&PromRecorder>,
) -> (u16, String) {
    if method != "GET" && method != "HEAD" {
        return (405, "method not allowed\n".into());
    }
    let path = path.split('?').next().unwrap_or("");
    match path {
        "/healthz" => (200, "ok\n".into()),
        "/ready" => {
            if shared.stopping.load(Ordering::Relaxed) {
                (503, "stopping\n".into())
            } else {
                (200, "ready\n".into())
            }
        }
        "/metrics" => match recorder {
            Some(r) => (200, r.render()),
            None => (
                503,
                "another metrics recorder is installed in this process\n".into(),
            ),
        },
        "/config/generation" => (200, format!("{}\n", shared.snapshot.load().generation)),
        _ => (404, "not found\n".into()),
    }
}
