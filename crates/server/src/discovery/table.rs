//! The last good addresses of every host name the config uses, when each
//! name is due to be resolved again, and the config with those addresses
//! in place of the names.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use shardgate_config::{Config, UpstreamServer};

use super::answer::Answer;
use super::resolve::{does_not_resolve, resolve};
use crate::metrics::control::DnsMetrics;
use crate::Error;

/// A TTL shorter than this is taken as this: a TTL of 0 must not turn the
/// resolver thread into a query loop.
const MIN_TTL: Duration = Duration::from_secs(1);
/// After a failed resolution, the next try comes this soon (or at the
/// name's `resolve_interval`, if shorter): a DNS outage is noticed to be
/// over quickly, while the last good addresses stay in use.
const RETRY: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Table {
    hosts: HashMap<String, Entry>,
}

struct Entry {
    /// The last good answer's addresses (never empty).
    addrs: Vec<IpAddr>,
    /// When it was last resolved (successfully or not).
    checked: Instant,
    /// A bound on the wait before the next resolution below the name's
    /// interval: the answer's TTL, or the retry delay after a failure.
    cap: Option<Duration>,
    /// Why the last resolution failed (None: it succeeded).
    failure: Option<String>,
}

impl Table {
    /// Resolves every name of `base` the table does not know yet. One that
    /// does not resolve refuses the config: at start-up nothing has been
    /// bound yet, on reload the running config stays.
    pub fn resolve_new(&mut self, base: &Config, now: Instant) -> Result<(), Error> {
        for n in base.upstreams.iter().flat_map(|u| &u.named) {
            if self.hosts.contains_key(&n.host) {
                continue;
            }
            let a = resolve(&base.resolver, &n.host)
                .map_err(|why| Error::Resolve(does_not_resolve(&n.site, &n.host, &why)))?;
            DnsMetrics::new(&n.host).resolutions.increment(1);
            tracing::info!(host = %n.host, addrs = ?a.addrs, "host name resolved");
            self.hosts.insert(
                n.host.clone(),
                Entry {
                    addrs: a.addrs,
                    checked: now,
                    cap: a.ttl.map(|t| t.max(MIN_TTL)),
                    failure: None,
                },
            );
        }
        Ok(())
    }

    /// Forgets the names `base` no longer uses.
    pub fn retain(&mut self, base: &Config) {
        self.hosts.retain(|h, _| interval(base, h).is_some());
    }

    /// The names due for resolution at `now`, and when the next one is due
    /// after those (None: no names).
    pub fn due(&self, base: &Config, now: Instant) -> (Vec<String>, Option<Instant>) {
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for (host, e) in &self.hosts {
            let Some(every) = interval(base, host) else {
                continue;
            };
            let at = e.checked + e.cap.map_or(every, |c| c.min(every));
            if at <= now {
                due.push(host.clone());
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        (due, next)
    }

    /// Takes the outcome of a re-resolution of `host`; true when its
    /// addresses changed. A failure keeps the last good addresses. Logged
    /// on a change only (failing, resolving again, new addresses), counted
    /// every time.
    pub fn record(&mut self, host: &str, outcome: Result<Answer, String>, now: Instant) -> bool {
        let Some(e) = self.hosts.get_mut(host) else {
            return false;
        };
        let m = DnsMetrics::new(host);
        m.resolutions.increment(1);
        e.checked = now;
        match outcome {
            Err(why) => {
                m.failures.increment(1);
                if e.failure.is_none() {
                    tracing::warn!(host, error = %why, kept = ?e.addrs, "host name does not resolve; keeping its last addresses");
                }
                e.cap = Some(RETRY);
                e.failure = Some(why);
                false
            }
            Ok(a) => {
                if let Some(why) = e.failure.take() {
                    tracing::info!(host, was = %why, "host name resolves again");
                }
                e.cap = a.ttl.map(|t| t.max(MIN_TTL));
                if a.addrs == e.addrs {
                    return false;
                }
                m.changes.increment(1);
                tracing::info!(host, from = ?e.addrs, to = ?a.addrs, "host name's addresses changed");
                e.addrs = a.addrs;
                true
            }
        }
    }

    /// `base` with each named entry replaced by one server per address of
    /// its name (with the entry's weight and the name as `host`), after
    /// the servers given as IP addresses. An address already present (an
    /// IP entry, or another name's) is not added twice.
    pub fn apply(&self, base: &Config) -> Config {
        let mut cfg = base.clone();
        for u in &mut cfg.upstreams {
            for n in &u.named {
                let Some(e) = self.hosts.get(&n.host) else {
                    continue;
                };
                for ip in &e.addrs {
                    let address = SocketAddr::new(*ip, n.port);
                    if u.servers.iter().any(|s| s.address == address) {
                        continue;
                    }
                    u.servers.push(UpstreamServer {
                        address,
                        weight: n.weight,
                        host: Some(n.host.clone()),
                    });
                }
            }
        }
        cfg
    }
}

/// How often `host` is resolved again: the shortest `resolve_interval` of
/// the upstreams that name it (None: none does).
fn interval(base: &Config, host: &str) -> Option<Duration> {
    base.upstreams
        .iter()
        .filter(|u| u.named.iter().any(|n| n.host == host))
        .map(|u| u.resolve_interval)
        .min()
}

#[cfg(test)]
mod tests;
