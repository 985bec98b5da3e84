//! Requests in flight, counted for the `max_in_flight` caps and their
//! gauges: per shard (`[server.limits]`), and per route, both per shard (for
//! the gauge, always) and over all shards (one atomic per route, touched only
//! when the route has a cap).
//!
//! A request holds an [`InFlight`] from admission to the end of its
//! response; dropping it gives the counts back, so a request cancelled with
//! its connection (shutdown, a client gone) cannot leak a slot.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use metrics::Gauge;
use shardgate_config::Config;

/// One shard's requests in flight.
pub struct ShardFlight {
    count: Cell<u32>,
    gauge: Gauge,
}

impl ShardFlight {
    pub fn new(shard: usize) -> Rc<Self> {
        Rc::new(ShardFlight {
            count: Cell::new(0),
            gauge: crate::metrics::flow::shard_in_flight(shard),
        })
    }

    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// From the shard's 1 s tick, never per request.
    pub fn publish(&self) {
        self.gauge.set(f64::from(self.count()));
    }
}

/// One route's requests in flight, seen from one shard. Kept across reloads
/// by route name, so requests of the old generation still count.
pub struct RouteFlight {
    name: String,
    /// This shard's (for the gauge).
    here: Cell<u32>,
    /// Every shard's (for the cap): the same atomic in each shard's copy.
    global: Arc<AtomicU32>,
    gauge: Gauge,
}

impl RouteFlight {
    pub fn count(&self) -> u32 {
        self.here.get()
    }

    pub fn publish(&self) {
        self.gauge.set(f64::from(self.count()));
    }
}

/// A shard's route counters for a generation: each route's from `previous`
/// when the name and the process-wide atomic are the same, else new.
pub fn routes(
    shard: usize,
    config: &Config,
    globals: &RouteCounters,
    previous: &[Rc<RouteFlight>],
) -> Vec<Rc<RouteFlight>> {
    config
        .routes
        .iter()
        .zip(&globals.0)
        .map(|(r, global)| {
            previous
                .iter()
                .find(|p| p.name == r.name && Arc::ptr_eq(&p.global, global))
                .cloned()
                .unwrap_or_else(|| {
                    Rc::new(RouteFlight {
                        name: r.name.clone(),
                        here: Cell::new(0),
                        global: global.clone(),
                        gauge: crate::metrics::flow::route_in_flight(shard, &r.name),
                    })
                })
        })
        .collect()
}

/// Each route's process-wide count, by route index; part of the snapshot,
/// carried over a reload by route name.
#[derive(Default)]
pub struct RouteCounters(Vec<Arc<AtomicU32>>);

impl RouteCounters {
    pub fn build(config: &Config, previous: Option<(&Config, &RouteCounters)>) -> Self {
        RouteCounters(
            config
                .routes
                .iter()
                .map(|r| {
                    previous
                        .and_then(|(pc, pr)| {
                            let i = pc.routes.iter().position(|p| p.name == r.name)?;
                            pr.0.get(i).cloned()
                        })
                        .unwrap_or_default()
                })
                .collect(),
        )
    }
}

/// What a refused admission was refused by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Shard,
    Route,
}

/// One request's place in the counts; gives it back when dropped.
#[derive(Default)]
pub struct InFlight {
    shard: Option<Rc<ShardFlight>>,
    route: Option<Rc<RouteFlight>>,
    /// The route's process-wide count was taken (the route has a cap).
    global: bool,
}

impl InFlight {
    /// Counts the request on `shard` unless `max` (0: no cap) are there.
    pub fn enter_shard(&mut self, shard: &Rc<ShardFlight>, max: u32) -> Result<(), Full> {
        let n = shard.count.get();
        if max > 0 && n >= max {
            return Err(Full::Shard);
        }
        shard.count.set(n.saturating_add(1));
        self.shard = Some(shard.clone());
        Ok(())
    }

    /// Counts the request on its route; with a cap (`max` > 0) on the
    /// process-wide count too, unless `max` are there. Two shards racing
    /// for the last slot may both be refused, never both admitted.
    pub fn enter_route(&mut self, route: &Rc<RouteFlight>, max: u32) -> Result<(), Full> {
        if max > 0 {
            let before = route.global.fetch_add(1, Ordering::AcqRel);
            if before >= max {
                route.global.fetch_sub(1, Ordering::AcqRel);
                return Err(Full::Route);
            }
            self.global = true;
        }
        route.here.set(route.here.get().saturating_add(1));
        self.route = Some(route.clone());
        Ok(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(s) = self.shard.take() {
            s.count.set(s.count.get().saturating_sub(1));
        }
        if let Some(r) = self.route.take() {
            r.here.set(r.here.get().saturating_sub(1));
            if self.global {
                r.global.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routes: &[&str]) -> Config {
        let mut text = String::from("[[listener]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n");
        for r in routes {
            text.push_str(&format!(
                "[[route]]\nname = \"{r}\"\npath_prefix = \"/{r}\"\nrespond = {{ status = 200 }}\n"
            ));
        }
        shardgate_config::parse(&text, "t.toml").unwrap()
    }

    #[test]
    fn caps_admit_up_to_max_and_dropping_gives_the_slot_back() {
        let shard = ShardFlight::new(0);
        let c = config(&["a"]);
        let globals = RouteCounters::build(&c, None);
        let routes = routes(0, &c, &globals, &[]);
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut f = InFlight::default();
            f.enter_shard(&shard, 3).unwrap();
            f.enter_route(&routes[0], 2).unwrap();
            held.push(f);
        }
        let mut third = InFlight::default();
        third.enter_shard(&shard, 3).unwrap();
        assert_eq!(third.enter_route(&routes[0], 2), Err(Full::Route));
        let mut fourth = InFlight::default();
        assert_eq!(fourth.enter_shard(&shard, 3), Err(Full::Shard));
        drop(third);
        assert_eq!(shard.count(), 2);
        assert_eq!(routes[0].count(), 2);
        assert_eq!(globals.0[0].load(Ordering::Relaxed), 2);
        held.clear();
        assert_eq!(shard.count(), 0);
        assert_eq!(routes[0].count(), 0);
        assert_eq!(globals.0[0].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn counters_carry_over_a_reload_by_route_name() {
        let one = config(&["a", "b"]);
        let g1 = RouteCounters::build(&one, None);
        let r1 = routes(0, &one, &g1, &[]);
        let mut held = InFlight::default();
        held.enter_route(&r1[1], 5).unwrap();
        // "b" moves to index 0, "a" is gone, "c" is new.
        let two = config(&["b", "c"]);
        let g2 = RouteCounters::build(&two, Some((&one, &g1)));
        let r2 = routes(0, &two, &g2, &r1);
        assert!(Rc::ptr_eq(&r2[0], &r1[1]));
        assert_eq!(r2[0].count(), 1);
        assert_eq!(g2.0[0].load(Ordering::Relaxed), 1);
        assert_eq!(r2[1].count(), 0);
        drop(held);
        assert_eq!(g2.0[0].load(Ordering::Relaxed), 0);
    }
}
