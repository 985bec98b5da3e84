//! HTTP/3 from tests: a typed wrapper around `tools/h3client.py` (aioquic).
//!
//! A [`H3Plan`] is built here and handed to the script as JSON on stdin; its
//! JSON answer comes back as [`H3Results`]. The script's header comment is
//! the reference for every key. aioquic must be importable: when it is not,
//! [`run`] fails with a message saying how to install it (`.ci/test` does),
//! so a test can never pass without having spoken HTTP/3.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::tls::TestCert;

/// One request of a plan (`GET /` by default).
#[derive(Debug, Clone, Default)]
pub struct H3Request(Map<String, Value>);

impl H3Request {
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: &str) -> Self {
        Self::new("POST", path)
    }

    pub fn new(method: &str, path: &str) -> Self {
        let mut m = Map::new();
        m.insert("method".into(), json!(method));
        m.insert("path".into(), json!(path));
        H3Request(m)
    }

    /// The complete header section, pseudo-headers included, sent verbatim
    /// (no content-length is added).
    pub fn raw(headers: &[(&str, &str)]) -> Self {
        H3Request(Map::new()).set("raw_headers", pairs(headers))
    }

    fn set(mut self, key: &str, v: Value) -> Self {
        self.0.insert(key.into(), v);
        self
    }

    pub fn authority(self, a: &str) -> Self {
        self.set("authority", json!(a))
    }

    /// Appends a header after the pseudo-headers.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let list = self.0.entry("headers").or_insert_with(|| json!([]));
        if let Value::Array(a) = list {
            a.push(json!([name, value]));
        }
        self
    }

    pub fn body(self, body: &str) -> Self {
        self.set("body", json!(body))
    }

    /// The body as these DATA frames, one per part; an empty part is an
    /// empty DATA frame.
    pub fn body_parts(self, parts: &[&str]) -> Self {
        self.set("body_parts", json!(parts))
    }

    /// `n` bytes of [`pattern`], streamed.
    pub fn body_size(self, n: u64) -> Self {
        self.set("body_size", json!(n))
    }

    /// A content-length that may lie.
    pub fn content_length(self, n: u64) -> Self {
        self.set("content_length", json!(n))
    }

    /// No content-length even with a body.
    pub fn no_content_length(self) -> Self {
        self.set("content_length", json!("omit"))
    }

    pub fn trailers(self, t: &[(&str, &str)]) -> Self {
        self.set("trailers", pairs(t))
    }

    /// Resets the sending side (H3_REQUEST_CANCELLED) after `n` body parts
    /// instead of ending the body, and keeps reading the stream.
    pub fn reset_after_parts(self, n: usize) -> Self {
        self.set("reset_after_parts", json!(n))
    }

    /// Cancels the request (RESET_STREAM and STOP_SENDING with
    /// H3_REQUEST_CANCELLED) when no response head came this long after it
    /// was sent; its error is then "cancelled".
    pub fn cancel_after(self, d: Duration) -> Self {
        self.set("cancel_after", json!(d.as_secs_f64()))
    }

    /// Waits this long after HEADERS before sending the body (or the end
    /// of the stream); a response arriving meanwhile abandons the body.
    pub fn pause_after_headers(self, d: Duration) -> Self {
        self.set("pause_after_headers", json!(d.as_secs_f64()))
    }

    /// With [`Self::pause_after_headers`]: the body goes as soon as an
    /// interim (1xx) response arrives, as a client that sent `expect:
    /// 100-continue` does (the pause is then its longest wait for one).
    pub fn wait_interim(self) -> Self {
        self.set("wait_interim", json!(true))
    }

    /// Waits this long before opening the stream.
    pub fn sleep_before(self, d: Duration) -> Self {
        self.set("sleep_before", json!(d.as_secs_f64()))
    }
}

fn pairs(list: &[(&str, &str)]) -> Value {
    Value::Array(list.iter().map(|(n, v)| json!([n, v])).collect())
}

/// What the script runs: connections to one address, each running every
/// request.
#[derive(Debug, Clone)]
pub struct H3Plan {
    plan: Map<String, Value>,
    requests: Vec<H3Request>,
}

impl H3Plan {
    /// A plan for `addr`, with SNI `server_name`, trusting `ca`.
    pub fn new(addr: SocketAddr, server_name: &str, ca: &TestCert) -> Self {
        let mut plan = Map::new();
        plan.insert("connect".into(), json!(addr.to_string()));
        plan.insert("server_name".into(), json!(server_name));
        plan.insert("ca".into(), json!(ca.cert.display().to_string()));
        plan.insert("timeout".into(), json!(30));
        H3Plan {
            plan,
            requests: Vec::new(),
        }
    }

    fn set(mut self, key: &str, v: Value) -> Self {
        self.plan.insert(key.into(), v);
        self
    }

    /// Parallel connections, each running the whole request list.
    pub fn connections(self, n: usize) -> Self {
        self.set("connections", json!(n))
    }

    /// Concurrent request streams per connection.
    pub fn parallel(self, n: usize) -> Self {
        self.set("parallel", json!(n))
    }

    /// Migrate to a new local port every `k` completed requests.
    pub fn rebind_after(self, k: usize) -> Self {
        self.set("rebind_after", json!(k))
    }

    /// Budget of a whole connection (handshake and requests).
    pub fn timeout(self, d: Duration) -> Self {
        self.set("timeout", json!(d.as_secs_f64()))
    }

    /// The client's QUIC max_idle_timeout (aioquic's default: 60 s).
    pub fn idle_timeout(self, d: Duration) -> Self {
        self.set("idle_timeout", json!(d.as_secs_f64()))
    }

    /// Once every request is done, wait up to `d` for the server to close
    /// the connection (a GOAWAY drain) before closing it from the client.
    pub fn wait_close(self, d: Duration) -> Self {
        self.set("wait_close", json!(d.as_secs_f64()))
    }

    /// SETTINGS_MAX_FIELD_SECTION_SIZE the client sends (RFC 9114 §4.2.2).
    pub fn max_field_section_size(self, n: u64) -> Self {
        self.set("max_field_section_size", json!(n))
    }

    pub fn keep_body(self, n: usize) -> Self {
        self.set("keep_body", json!(n))
    }

    pub fn request(mut self, r: H3Request) -> Self {
        self.requests.push(r);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut p = self.plan.clone();
        let reqs = if self.requests.is_empty() {
            vec![H3Request::get("/")]
        } else {
            self.requests.clone()
        };
        p.insert(
            "requests".into(),
            Value::Array(reqs.into_iter().map(|r| Value::Object(r.0)).collect()),
        );
        Value::Object(p)
    }

    /// Longest a run of this plan may take: every connection runs in
    /// parallel, each bounded by the plan's timeout.
    fn deadline(&self) -> Duration {
        let t = self
            .plan
            .get("timeout")
            .and_then(Value::as_f64)
            .unwrap_or(30.0);
        Duration::from_secs_f64(t) + Duration::from_secs(20)
    }
}

/// One connection's outcome.
#[derive(Debug, Clone)]
pub struct H3Conn {
    pub handshake_ok: bool,
    pub alpn: Option<String>,
    pub cert_subject: Option<String>,
    pub cert_cn: Option<String>,
    pub cert_sans: Vec<String>,
    pub local_ports: Vec<u16>,
    pub migrated: bool,
    pub rebinds: u64,
    /// `"0xcode:reason"` of the CONNECTION_CLOSE, if one arrived or was sent.
    pub close_reason: Option<String>,
    /// The server sent GOAWAY on its control stream.
    pub goaway: bool,
    /// When the GOAWAY arrived, in ms since the connection started.
    pub goaway_ms: Option<f64>,
    /// The server closed the connection before the client did.
    pub peer_closed: bool,
    /// The server's initial flow-control windows (transport parameters): for
    /// the whole connection, and for one request stream.
    pub peer_max_data: Option<u64>,
    pub peer_max_stream_data_bidi: Option<u64>,
    /// The server's `max_datagram_frame_size`; `None`: no DATAGRAM support.
    pub peer_max_datagram_frame_size: Option<u64>,
    pub error: Option<String>,
}

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct H3Response {
    pub conn: usize,
    pub index: usize,
    pub local_port: Option<u16>,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    /// The interim (1xx) responses before the final one, in order: status
    /// and fields.
    pub interim: Vec<(u16, Vec<(String, String)>)>,
    pub body_len: u64,
    pub body_sha256: String,
    /// The first `keep_body` bytes (UTF-8, lossy).
    pub body: String,
    pub trailers: Option<Vec<(String, String)>>,
    pub sent_len: u64,
    pub stop_sending: Option<u64>,
    /// `"stream_reset:0x10e"`, `"connection_closed:…"`, `"timeout"`,
    /// `"handshake_failed:…"` …
    pub error: Option<String>,
}

impl H3Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct H3Results {
    /// Every request got a status and no error.
    pub ok: bool,
    pub connections: Vec<H3Conn>,
    pub requests: Vec<H3Response>,
    /// The whole JSON answer, for messages and keys not typed here.
    pub raw: Value,
    /// The script's stderr (warnings).
    pub stderr: String,
}

impl H3Results {
    /// Statuses of every request, in order (None: no response).
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.requests.iter().map(|r| r.status).collect()
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        for c in &self.connections {
            s.push_str(&format!(
                "conn hs={} migrated={} ports={:?} goaway={:?} peer_closed={} close={:?} err={:?}\n",
                c.handshake_ok,
                c.migrated,
                c.local_ports,
                c.goaway_ms,
                c.peer_closed,
                c.close_reason,
                c.error
            ));
        }
        for r in &self.requests {
            s.push_str(&format!(
                "  req conn={} #{} status={:?} len={} err={:?}\n",
                r.conn, r.index, r.status, r.body_len, r.error
            ));
        }
        if !self.stderr.is_empty() {
            s.push_str(&format!("stderr: {}\n", self.stderr));
        }
        s
    }
}

fn str_of(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn u64_of(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn pairs_of(v: Option<&Value>) -> Option<Vec<(String, String)>> {
    let a = v?.as_array()?;
    Some(
        a.iter()
            .filter_map(|p| {
                let p = p.as_array()?;
                Some((
                    p.first()?.as_str()?.to_string(),
                    p.get(1)?.as_str()?.to_string(),
                ))
            })
            .collect(),
    )
}

/// `interim` (statuses) zipped with `interim_headers` (their fields).
fn interim_of(r: &Value) -> Vec<(u16, Vec<(String, String)>)> {
    let statuses = r.get("interim").and_then(Value::as_array);
    let fields = r.get("interim_headers").and_then(Value::as_array);
    statuses
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, s)| {
            let hs = pairs_of(fields.and_then(|f| f.get(i))).unwrap_or_default();
            Some((u16::try_from(s.as_u64()?).ok()?, hs))
        })
        .collect()
}

fn parse(raw: Value, stderr: String) -> Result<H3Results> {
    let bad = |m: &str| tool(format!("{m} in output: {raw}"));
    let conns = raw
        .get("connections")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no connections"))?;
    let reqs = raw
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no requests"))?;
    let connections = conns
        .iter()
        .map(|c| H3Conn {
            handshake_ok: c
                .get("handshake_ok")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            alpn: str_of(c, "alpn"),
            cert_subject: str_of(c, "tls_server_cert_subject"),
            cert_cn: str_of(c, "tls_server_cert_cn"),
            cert_sans: c
                .get("tls_server_cert_sans")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            local_ports: c
                .get("local_ports")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_u64().map(|p| p as u16))
                        .collect()
                })
                .unwrap_or_default(),
            migrated: c.get("migrated").and_then(Value::as_bool).unwrap_or(false),
            rebinds: u64_of(c, "rebinds"),
            close_reason: str_of(c, "close_reason"),
            goaway: c.get("goaway").and_then(Value::as_bool).unwrap_or(false),
            goaway_ms: c.get("goaway_ms").and_then(Value::as_f64),
            peer_closed: c
                .get("peer_closed")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            peer_max_data: c.get("peer_max_data").and_then(Value::as_u64),
            peer_max_stream_data_bidi: c.get("peer_max_stream_data_bidi").and_then(Value::as_u64),
            peer_max_datagram_frame_size: c
                .get("peer_max_datagram_frame_size")
                .and_then(Value::as_u64),
            error: str_of(c, "error"),
        })
        .collect();
    let requests = reqs
        .iter()
        .map(|r| H3Response {
            conn: u64_of(r, "conn") as usize,
            index: u64_of(r, "index") as usize,
            local_port: r
                .get("local_port")
                .and_then(Value::as_u64)
                .map(|p| p as u16),
            status: r.get("status").and_then(Value::as_u64).map(|s| s as u16),
            headers: pairs_of(r.get("headers")).unwrap_or_default(),
            interim: interim_of(r),
            body_len: u64_of(r, "body_len"),
            body_sha256: str_of(r, "body_sha256").unwrap_or_default(),
            body: str_of(r, "body").unwrap_or_default(),
            trailers: pairs_of(r.get("trailers")),
            sent_len: u64_of(r, "sent_len"),
            stop_sending: r.get("stop_sending").and_then(Value::as_u64),
            error: str_of(r, "error"),
        })
        .collect();
    Ok(H3Results {
        ok: raw.get("ok").and_then(Value::as_bool).unwrap_or(false),
        connections,
        requests,
        raw,
        stderr,
    })
}

fn tool(message: impl Into<String>) -> Error {
    Error::Tool {
        tool: "h3client.py".into(),
        message: message.into(),
    }
}

/// The script's path.
pub fn script() -> std::path::PathBuf {
    crate::binary::workspace_root().join("crates/testkit/tools/h3client.py")
}

/// A plan running in the background (to act on the gateway meanwhile).
pub struct H3Running {
    child: Child,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
    deadline: Instant,
}

/// Starts the script on `plan` without waiting for it.
pub fn spawn(plan: &H3Plan) -> Result<H3Running> {
    let mut child = Command::new("python3")
        .arg(script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| tool(format!("cannot run python3: {e}")))?;
    let input = plan.to_json().to_string();
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = s.read_to_end(&mut v);
            v
        })
    });
    let err = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = s.read_to_end(&mut v);
            v
        })
    });
    Ok(H3Running {
        child,
        out,
        err,
        deadline: Instant::now() + plan.deadline(),
    })
}

impl H3Running {
    /// Waits for the script (killing it past the plan's deadline) and parses
    /// its answer.
    pub fn wait(mut self) -> Result<H3Results> {
        let status = loop {
            if let Some(s) = self.child.try_wait()? {
                break s;
            }
            if Instant::now() >= self.deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(tool("did not finish before the plan's deadline; killed"));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = self
            .out
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let err = self
            .err
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&err).into_owned();
        if stderr.contains("aioquic is required") {
            return Err(tool(format!(
                "python3 cannot import aioquic: `python3 -m pip install --break-system-packages aioquic` (.ci/test does): {stderr}"
            )));
        }
        if !status.success() {
            return Err(tool(format!("exit {status}: {stderr}")));
        }
        let raw: Value = serde_json::from_slice(&out).map_err(|e| {
            tool(format!(
                "output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out)
            ))
        })?;
        parse(raw, stderr)
    }
}

impl Drop for H3Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `plan` to the end.
pub fn run(plan: &H3Plan) -> Result<H3Results> {
    spawn(plan)?.wait()
}

/// The script's `body_size` bytes: byte i = (j*31 + j/256) & 0xff, j = i % 65536.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let j = i % 65536;
            ((j * 31 + j / 256) & 0xff) as u8
        })
        .collect()
}

/// Lower-case hex SHA-256 (as the script reports it).
pub fn sha256_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_and_hash_match_the_script() {
        let p = pattern(70_000);
        assert_eq!(&p[..4], &[0, 31, 62, 93]);
        assert_eq!(p[256], ((256 * 31 + 1) & 0xff) as u8);
        assert_eq!(p[65_536], 0);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
