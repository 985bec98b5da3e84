//! Admit: may this request be served at all? Decided from the head alone,
//! before routing. Rate limits and in-flight caps join this phase.

use shardgate_config::Config;
use shardgate_http::BodyKind;
use shardgate_proxy::{Error, ErrorKind};

use super::RequestView;

pub fn admit(view: &RequestView<'_>, cfg: &Config) -> Result<(), Error> {
    if view.method == "CONNECT" {
        // A reverse proxy does not open tunnels to arbitrary hosts.
        return Err(Error::new(ErrorKind::ClientMalformed { status: 501 }));
    }
    let max_body = cfg.server.limits.max_body_bytes;
    if let BodyKind::Length(n) = view.body {
        if max_body > 0 && n > max_body {
            return Err(Error::new(ErrorKind::BodyTooLarge));
        }
    }
    Ok(())
}
