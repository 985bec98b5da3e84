//! A config generation: the validated config plus everything derived from it that
//! every shard reads (the route table, the process-wide upstream health state).
//! Built whole on the control thread, then
//! published with one `ArcSwap::store`, so a shard sees either the old or the new
//! generation, never a mix.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::ProducesTickets;
use shardgate_config::{Config, LbPolicy, Protocol, RouteAction};
use shardgate_proxy::{Maglev, Rng, Router};

use crate::flight::RouteCounters;
use crate::listeners::plan::Running;
use crate::listeners::ListenerId;
use crate::quic::QuicTable;
use crate::ratelimit::RateLimits;
use crate::upstream::HealthRegistry;
use crate::Error;

pub struct Snapshot {
    pub generation: u64,
    pub config: Config,
    pub router: Router,
    /// For each route, the index of the upstream it proxies to (resolved once
    /// here, so a request never compares names).
    pub route_upstream: Vec<Option<usize>>,
    /// For each upstream, its Maglev lookup table when it balances with
    /// `consistent_hash`: built once per generation here, on the control
    /// thread, and shared by every shard (256 KiB each).
    pub maglev: Vec<Option<Arc<Maglev>>>,
    /// For each listener, its TLS settings (None: cleartext, or `h3`).
    pub tls: Vec<Option<Arc<rustls::ServerConfig>>>,
    /// For each upstream, its TLS client settings (None: cleartext), built
    /// once per generation; each shard adds its own session cache.
    pub upstream_tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    /// For each `h3` listener, its QUIC settings (None: a TCP listener).
    pub quic: Vec<Option<QuicListener>>,
    /// Each upstream server's process-wide health (active checks, outlier
    /// ejection, panic), carried over from the previous generation.
    pub health: HealthRegistry,
    /// The rate-limit tables of every route's rules, carried over from the
    /// previous generation for the rules a reload left unchanged.
    pub rate_limits: RateLimits,
    /// Each route's requests in flight over all shards (`max_in_flight`),
    /// carried over from the previous generation by route name.
    pub route_counters: RouteCounters,
    /// For each listener, the `Alt-Svc` value its responses carry (from
    /// `[listener.tls] alt_svc`, with the h3 listener's bound port).
    alt_svc: Vec<Option<Vec<u8>>>,
    /// For each listener (by its position in this generation's config), its
    /// stable id (ADR 18): what connections hold, so a reload that adds,
    /// removes or reorders listeners never moves one onto another's tables.
    listener_ids: Vec<ListenerId>,
    /// Every shard's QUIC connection table of every `h3` listener of this
    /// generation, for the admin thread's gauges (atomic loads only); a
    /// removed listener's tables leave with it.
    pub quic_tables: Vec<QuicTable>,
    /// The tables of `h3` listeners an earlier reload removed (or rebound)
    /// that still held connections when this generation was built: what
    /// `/shards` shows of a draining listener. Pruned at the next reload
    /// once empty.
    pub draining_quic: Vec<QuicTable>,
}

/// What a shard needs to accept a QUIC connection under this generation.
pub struct QuicListener {
    /// Stateless retry for every new connection.
    pub retry: bool,
    /// Stateless retry for new connections while this many of the shard's
    /// connections on the listener are in their handshake; 0: never.
    pub retry_threshold: usize,
    /// Serve safe requests from 0-RTT early data.
    pub early_data: bool,
    /// quinn server configs differing only in idle timeout (the jitter).
    configs: Vec<Arc<quinn::ServerConfig>>,
}

impl QuicListener {
    /// A server config for the next connection: a random idle-time variant.
    pub fn pick(&self, rng: &mut Rng) -> Option<Arc<quinn::ServerConfig>> {
        let n = self.configs.len().max(1) as u64;
        self.configs.get((rng.next_u64() % n) as usize).cloned()
    }

    /// The first variant: the endpoint's default (quinn checks retry tokens
    /// and answers version negotiation with it).
    pub fn default_config(&self) -> Option<Arc<quinn::ServerConfig>> {
        self.configs.first().cloned()
    }
}

fn quic_listener(
    l: &shardgate_config::ListenerConfig,
    ticketer: &Arc<dyn ProducesTickets>,
) -> Result<Option<QuicListener>, Error> {
    let (Some(tls), Some(q)) = (&l.tls, &l.quic) else {
        return Ok(None);
    };
    let rustls = crate::tls::quic_config(tls, ticketer, q.early_data)?;
    let transport = shardgate_quic::Transport {
        max_idle_time: q.max_idle_time,
        idle_jitter: q.idle_jitter,
        max_streams: q.max_streams_per_connection,
        early_data: q.early_data,
    };
    let configs = shardgate_quic::server_configs(rustls, &transport)
        .map_err(|e| Error::Tls(format!("listener {}: {e}", l.name)))?;
    Ok(Some(QuicListener {
        retry: q.retry,
        retry_threshold: q.retry_threshold,
        early_data: q.early_data,
        configs,
    }))
}

impl Snapshot {
    pub fn new(
        config: Config,
        generation: u64,
        ticketer: &Arc<dyn ProducesTickets>,
    ) -> Result<Self, Error> {
        let tls = config
            .listeners
            .iter()
            .map(|l| match l.protocol {
                Protocol::Http => l
                    .tls
                    .as_ref()
                    .map(|t| crate::tls::server_config(t, ticketer))
                    .transpose(),
                Protocol::H3 => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let quic = config
            .listeners
            .iter()
            .map(|l| quic_listener(l, ticketer))
            .collect::<Result<Vec<_>, _>>()?;
        let upstream_tls = config
            .upstreams
            .iter()
            .map(|u| {
                u.tls
                    .as_ref()
                    .map(crate::upstream::client_config)
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let router = Router::new(&config);
        let route_upstream = config
            .routes
            .iter()
            .map(|r| match &r.action {
                RouteAction::Proxy { upstream } => {
                    config.upstreams.iter().position(|u| &u.name == upstream)
                }
                RouteAction::Respond(_) => None,
            })
            .collect();
        let maglev = config
            .upstreams
            .iter()
            .map(|u| (u.lb == LbPolicy::ConsistentHash).then(|| Arc::new(Maglev::new(&u.servers))))
            .collect();
        Ok(Self {
            generation,
            config,
            router,
            route_upstream,
            maglev,
            tls,
            upstream_tls,
            quic,
            health: HealthRegistry::default(),
            rate_limits: RateLimits::default(),
            route_counters: RouteCounters::default(),
            alt_svc: Vec::new(),
            listener_ids: Vec::new(),
            quic_tables: Vec::new(),
            draining_quic: Vec::new(),
        })
    }

    /// Builds the health state, keeping that of every server `previous` (the
    /// running generation) has under the same upstream name and address
    /// (`HealthRegistry::took_over` once it is published). `shards`: the
    /// process's shard count.
    pub fn with_health(mut self, previous: Option<&HealthRegistry>, shards: usize) -> Self {
        self.health = HealthRegistry::build(&self.config, previous, shards);
        self
    }

    /// Builds the rate-limit tables, keeping those of every rule `previous`
    /// (the running generation) has unchanged. `shards`: the process's shard
    /// count.
    pub fn with_limits(mut self, previous: Option<&RateLimits>, shards: usize) -> Self {
        self.rate_limits = RateLimits::build(&self.config, previous, shards);
        self
    }

    /// Keeps the QUIC tables `previous` (the running generation) listed,
    /// running or draining, that this generation no longer runs, while any
    /// of their slots is taken (call after [`Self::with_listeners`]).
    pub fn with_draining_quic(mut self, previous: &Snapshot) -> Self {
        let running = &self.quic_tables;
        let draining = previous
            .quic_tables
            .iter()
            .chain(&previous.draining_quic)
            .filter(|t| !running.iter().any(|r| Arc::ptr_eq(&r.slots, &t.slots)))
            .filter(|t| t.slots.counts().idle < t.slots.capacity())
            .cloned()
            .collect();
        self.draining_quic = draining;
        self
    }

    /// Takes over the routes' process-wide in-flight counts from `previous`
    /// (the running generation) by route name, so a cap counts the requests
    /// of both generations.
    pub fn with_route_counters(mut self, previous: Option<&Snapshot>) -> Self {
        self.route_counters = RouteCounters::build(
            &self.config,
            previous.map(|p| (&p.config, &p.route_counters)),
        );
        self
    }

    /// Takes the bound listeners (`running`: this config's listeners in
    /// config order, as `listeners::plan` returns them): their ids, QUIC
    /// tables, and the `Alt-Svc` values (a port-0 h3 listener advertises
    /// the port it got).
    pub fn with_listeners(mut self, running: &[Running]) -> Self {
        let by_name = |name: &str| running.iter().find(|r| r.name == name);
        // Not found cannot happen (the plan is made from this config); an
        // id no connection holds keeps the tables aligned if it did.
        self.listener_ids = self
            .config
            .listeners
            .iter()
            .map(|l| by_name(&l.name).map_or(ListenerId(u32::MAX), |r| r.id))
            .collect();
        self.quic_tables = running
            .iter()
            .flat_map(|r| r.quic_tables.iter().cloned())
            .collect();
        self.alt_svc = self
            .config
            .listeners
            .iter()
            .map(|l| {
                let target = l.tls.as_ref()?.alt_svc.as_ref()?;
                let bound = by_name(target)?;
                // RFC 7838 §3: h3 on the same host, another port; a day's cache.
                Some(format!("h3=\":{}\"; ma=86400", bound.local.port()).into_bytes())
            })
            .collect();
        self
    }

    /// Where listener `id` is in this generation's config (and so in its
    /// per-listener tables); None when this generation does not have it.
    pub fn listener_pos(&self, id: ListenerId) -> Option<usize> {
        self.listener_ids.iter().position(|l| *l == id)
    }

    /// Every listener of this generation, by config position.
    pub fn listener_ids(&self) -> &[ListenerId] {
        &self.listener_ids
    }

    /// The TLS settings of listener `id` under this generation.
    pub fn tls_of(&self, id: ListenerId) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.get(self.listener_pos(id)?)?.clone()
    }

    /// Listener `id`'s `max_connections_per_client` (0: none).
    pub fn client_limit(&self, id: ListenerId) -> u32 {
        self.listener_pos(id)
            .and_then(|p| self.config.listeners.get(p))
            .map_or(0, |l| l.max_connections_per_client)
    }

    /// The `Alt-Svc` value for responses of `listener`, if it advertises one.
    pub fn alt_svc(&self, listener: usize) -> Option<&[u8]> {
        self.alt_svc.get(listener)?.as_deref()
    }
}

pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;
