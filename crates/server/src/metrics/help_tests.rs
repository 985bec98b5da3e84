//! Every metric family the server emits has `# HELP` before its `# TYPE`.

use super::control::{admin_rejected, admin_unauthorized, DnsMetrics, ReloadMetrics};
use super::recorder::PromRecorder;
use super::{RouteMetrics, ShardMetrics, UpstreamMetrics, UpstreamTlsMetrics};
use crate::access_log::Sink;

#[test]
fn every_family_has_help_before_its_type() {
    let rec = PromRecorder::new();
    let sink = metrics::with_local_recorder(&rec, || {
        super::describe::describe_all();
        let shard = ShardMetrics::new(0);
        let route = RouteMetrics::new(0, "r");
        let limited = shardgate_config::parse(
            "[[listener]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n[[route]]\nname = \"r\"\nrespond = { status = 200 }\n[[route.rate_limit]]\nrate = \"1/s\"\n",
            "t.toml",
        )
        .unwrap();
        super::ratelimit::evictions(&limited.routes[0]).increment(1);
        let upstream = UpstreamMetrics::new(0, "u");
        let _ = super::health::ServerHealthMetrics::new("u", "127.0.0.1:1");
        let _ = super::health::PanicMetrics::new("u");
        let _ = UpstreamTlsMetrics::new(0, "u");
        let _ = DnsMetrics::new("app.test");
        let _ = super::redis_sync::RedisSyncMetrics::new("r");
        let _ = super::flow::shard_in_flight(0);
        let _ = super::flow::route_in_flight(0, "r");
        let _ = super::flow::AdaptiveGauges::new(0, "u");
        // Histograms only show once they have a sample.
        shard.connection_seconds.record(0.1);
        route.duration.record(0.1);
        upstream.connect_seconds.record(0.1);
        let pool = super::PoolGauges::new("u", "127.0.0.1:1".parse().unwrap());
        pool.publish(
            shardgate_proxy::PoolCounts {
                idle: 1,
                busy: 1,
                draining: 1,
            },
            shardgate_proxy::PoolStats::default(),
        );
        let _ = ReloadMetrics::register();
        super::quic::table_gauges("h3", 0, shardgate_slots::Counts::default());
        let _ = admin_rejected();
        let _ = admin_unauthorized();
        let _ = super::upgrade::UpgradeMetrics::register();
        let sink = Sink::with_writer(Box::new(std::io::sink()), 1).unwrap();
        let _ = sink.shard_log(0);
        sink
    });
    sink.close();
    let text = rec.render();
    let lines: Vec<&str> = text.lines().collect();
    let mut families = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        families += 1;
        let name = rest.split(' ').next().unwrap();
        let help = i.checked_sub(1).map(|p| lines[p]).unwrap_or("");
        assert!(
            help.starts_with(&format!("# HELP {name} ")) && help.len() > name.len() + 8,
            "no HELP for {name}:\n{text}"
        );
    }
    assert_eq!(families, 74, "{text}");
}
