//! The single-purpose aioquic probes in `crates/testkit/tools/` (h3close.py,
//! h3early.py, h3stall.py, h3qpack.py): each takes `HOST PORT SERVER_NAME
//! CAFILE [ARG...]`, does one thing to an HTTP/3 listener that
//! `h3client.py`'s plans cannot express (raw frames, connection ends,
//! 0-RTT), and prints one JSON document. [`answering_gateway`] is the
//! gateway most of them are pointed at.

use std::net::SocketAddr;
use std::process::Command;

use serde_json::Value;

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::h3client::{self, H3Plan, H3Request, H3Results};
use crate::tls::TestCert;

/// Runs `tools/<script>` against `addr` (SNI `localhost`, trusting `cert`)
/// with `args` after the four common ones; its JSON, or why there is none.
pub fn run(script: &str, addr: SocketAddr, cert: &TestCert, args: &[&str]) -> Result<Value> {
    let fail = |message: String| Error::Tool {
        tool: script.to_string(),
        message,
    };
    let out = Command::new("python3")
        .arg(
            crate::binary::workspace_root()
                .join("crates/testkit/tools")
                .join(script),
        )
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg("localhost")
        .arg(&cert.cert)
        .args(args)
        .output()
        .map_err(|e| {
            fail(format!(
                "cannot run python3 (aioquic: pip install aioquic): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        fail(format!(
            "no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        ))
    })
}

/// An `h3` listener named `name` (with `cert`) whose every request the
/// gateway answers itself (200, `ok`): what a probe of the transport needs,
/// with no origin in the way.
pub fn answering_gateway(driver: Driver, cert: &TestCert, name: &str) -> Result<Gateway> {
    const CONFIG: &str = r#"
[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[[route]]
respond = { status = 200, body = "ok" }
"#;
    Gateway::builder(CONFIG)
        .var("NAME", name)
        .var("CERTS", cert.toml())
        .driver(driver)
        .start()
}

/// One `GET /` from a new client on a connection of its own: after a probe
/// broke (or was refused) its connection, the listener must still serve the
/// next client.
pub fn new_client_get(addr: SocketAddr, cert: &TestCert) -> Result<H3Results> {
    let plan = H3Plan::new(addr, "localhost", cert)
        .connections(1)
        .request(H3Request::get("/"));
    h3client::run(&plan)
}
