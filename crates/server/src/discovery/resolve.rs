//! Resolving one name with the configured resolver, and the check of a
//! whole config (`shardgate check`).

use shardgate_config::{Config, ResolverConfig};

use super::answer::Answer;
use super::{query, system};

/// Resolves `host` (blocking). No address at all is a failure: an upstream
/// never loses a name's servers to an empty answer.
pub fn resolve(cfg: &ResolverConfig, host: &str) -> Result<Answer, String> {
    let mut a = if cfg.nameservers.is_empty() {
        system::lookup(host)
    } else {
        query::lookup(cfg, host)
    }?;
    a.addrs.sort();
    a.addrs.dedup();
    if a.addrs.is_empty() {
        return Err("no addresses (no A or AAAA records)".into());
    }
    Ok(a)
}

/// `file:line:col: key: message` for every name of `config` that does not
/// resolve now (what `shardgate check` reports; start-up would refuse).
pub fn unresolved(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for n in config.upstreams.iter().flat_map(|u| &u.named) {
        if let Err(why) = resolve(&config.resolver, &n.host) {
            out.push(does_not_resolve(&n.site, &n.host, &why));
        }
    }
    out
}

pub(super) fn does_not_resolve(site: &str, host: &str, why: &str) -> String {
    format!("{site}: {host:?} does not resolve: {why}")
}
