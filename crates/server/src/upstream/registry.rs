//! The process-wide health state of every upstream server for one config
//! generation, built on the control thread with the snapshot. A server that
//! stays (same upstream name, same address) keeps its state across reloads:
//! its active-check verdict, its failures and ejection, its metric handles.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use shardgate_config::Config;

use super::shared::{ServerShared, UpstreamShared};
use crate::metrics::health::PanicMetrics;

/// By upstream index, in config order (as `Config::upstreams`); each
/// upstream's servers in config order.
#[derive(Default)]
pub struct HealthRegistry {
    pub upstreams: Vec<Arc<UpstreamShared>>,
}

impl HealthRegistry {
    /// `shards`: how many per-shard slots each new server gets (the shard
    /// count cannot change on reload).
    pub fn build(cfg: &Config, previous: Option<&HealthRegistry>, shards: usize) -> Self {
        let upstreams = cfg
            .upstreams
            .iter()
            .map(|u| {
                let old = previous
                    .into_iter()
                    .flat_map(|p| &p.upstreams)
                    .find(|o| o.name == u.name);
                let checked = u.health_check.is_some();
                let servers = u
                    .servers
                    .iter()
                    .map(|s| {
                        let kept = old
                            .and_then(|o| o.servers.iter().find(|k| k.addr == s.address))
                            .cloned();
                        kept.unwrap_or_else(|| {
                            Arc::new(ServerShared::new(&u.name, s.address, checked, shards))
                        })
                    })
                    .collect();
                let (panic, panic_metrics) = match old {
                    Some(o) => (o.panic.clone(), o.panic_metrics.clone()),
                    None => (
                        Arc::new(AtomicBool::new(false)),
                        Arc::new(PanicMetrics::new(&u.name)),
                    ),
                };
                Arc::new(UpstreamShared {
                    name: u.name.clone(),
                    checked,
                    servers,
                    ejecting: AtomicBool::new(false),
                    panic,
                    panic_metrics,
                })
            })
            .collect();
        HealthRegistry { upstreams }
    }

    /// Called once `self` has replaced `previous` as the running generation
    /// (a reload that is refused after `build` must not change live state):
    /// kept servers follow the new config's active check (added: up; removed:
    /// unchecked), and servers no longer in the config stop showing as
    /// ejected in the metrics.
    pub fn took_over(&self, previous: &HealthRegistry) {
        for u in &self.upstreams {
            for s in &u.servers {
                s.set_checked(u.checked);
            }
        }
        for s in previous.upstreams.iter().flat_map(|u| &u.servers) {
            let kept = self
                .upstreams
                .iter()
                .flat_map(|u| &u.servers)
                .any(|n| Arc::ptr_eq(n, s));
            if !kept {
                s.metrics.ejected_now.set(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(upstreams: &str) -> Config {
        let text = format!("[[listener]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n{upstreams}");
        shardgate_config::parse(&text, "t.toml").unwrap()
    }

    #[test]
    fn kept_servers_keep_their_state_others_start_fresh() {
        let one = config(
            "[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n\
             [upstream.health_check]\n",
        );
        let r1 = HealthRegistry::build(&one, None, 2);
        let a1 = r1.upstreams[0].servers[0].clone();
        assert_eq!(a1.active(), super::super::shared::Active::Up);
        // Same name and address: the same state. Renamed upstream: new state.
        let two = config(
            "[[upstream]]\nname = \"b\"\nservers = [\"127.0.0.1:1\"]\n\
             [[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:3\", \"127.0.0.1:1\"]\n",
        );
        let r2 = HealthRegistry::build(&two, Some(&r1), 2);
        assert_eq!(
            a1.active(),
            super::super::shared::Active::Up,
            "not before took_over"
        );
        r2.took_over(&r1);
        assert!(!Arc::ptr_eq(&r2.upstreams[0].servers[0], &a1));
        assert!(Arc::ptr_eq(&r2.upstreams[1].servers[1], &a1));
        assert!(Arc::ptr_eq(&r2.upstreams[1].panic, &r1.upstreams[0].panic));
        // The check was removed: its verdict is gone with it.
        assert_eq!(a1.active(), super::super::shared::Active::Unchecked);
        assert_eq!(r2.upstreams[1].servers[0].addr.port(), 3);
    }
}
