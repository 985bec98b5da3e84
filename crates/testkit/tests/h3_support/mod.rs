//! The gateway the HTTP/3 request tests share: an `h3` listener, `/static`
//! answered by the gateway, everything else proxied with every forwarding
//! field, and an admin listener for `/metrics`.

use shardgate_testkit::{Driver, Gateway, Origin, TestCert};

/// An `h3` listener; `/static` answered by the gateway, everything else
/// proxied with every forwarding field.
pub const H3: &str = r#"
[admin]
address = "127.0.0.1:0"

[[listener]]
name = "${NAME}"
address = "127.0.0.1:0"
protocol = "h3"
[listener.tls]
certificates = [${CERTS}]

[[route]]
name = "${NAME}-static"
path_prefix = "/static"
respond = { status = 200, body = "static\n" }

[[route]]
name = "${NAME}-proxy"
path_prefix = "/"
proxy = "${NAME}-up"
forwarded = { forwarded = true, via = true }

[[upstream]]
name = "${NAME}-up"
servers = ["${UP}"]
"#;

/// Listener names are unique per test and driver, so per-listener series
/// never mix.
pub fn start(driver: Driver, name: &str, origin: &Origin, certs: &[&TestCert]) -> Gateway {
    let list: Vec<String> = certs.iter().map(|c| c.toml()).collect();
    Gateway::builder(H3)
        .var("NAME", format!("{name}-{driver}"))
        .var("UP", origin.addr())
        .var("CERTS", list.join(", "))
        .driver(driver)
        .start()
        .unwrap()
}

pub fn listener(gw: &Gateway, name: &str, driver: Driver) -> std::net::SocketAddr {
    gw.addr(&format!("{name}-{driver}"))
}
