//! `GET /upstreams`: every upstream's servers as the process sees them now,
//! in JSON: active-check state and last probe, outlier state (failures in a
//! row, ejection), whether the upstream is in panic, and each shard's pool
//! (connections per state) and backoff figures (published by the shards
//! once a second).
//!
//! Written by hand (the server crate has no JSON dependency); every string
//! goes through the access log's JSON escaping, though names and addresses
//! are restricted to characters that need none.

use std::fmt::Write;

use shardgate_config::UpstreamConfig;

use crate::snapshot::Snapshot;
use crate::upstream::{is_panic, Probe, ServerShared, ShardFigures, UpstreamShared};

/// The document for `snap` at `now_ms` (see `upstream::millis`).
pub fn render(snap: &Snapshot, now_ms: u64) -> String {
    let mut out = String::with_capacity(1024);
    let _ = write!(out, "{{\"generation\":{},\"upstreams\":[", snap.generation);
    let upstreams = snap.health.upstreams.iter().zip(&snap.config.upstreams);
    for (i, (u, cfg)) in upstreams.enumerate() {
        if i > 0 {
            out.push(',');
        }
        upstream(&mut out, u, cfg, now_ms);
    }
    out.push_str("]}\n");
    out
}

fn upstream(out: &mut String, u: &UpstreamShared, cfg: &UpstreamConfig, now_ms: u64) {
    let healthy = u.healthy(now_ms);
    let panic = is_panic(healthy, u.servers.len(), cfg.outlier.panic_threshold);
    out.push_str("{\"name\":");
    string(out, &u.name);
    let _ = write!(
        out,
        ",\"active_check\":{},\"healthy\":{healthy},\"panic\":{panic},\"servers\":[",
        cfg.health_check.is_some()
    );
    for (i, s) in u.servers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        server(out, s, now_ms);
    }
    out.push_str("]}");
}

fn server(out: &mut String, s: &ServerShared, now_ms: u64) {
    let v = s.view();
    out.push_str("{\"address\":");
    string(out, &s.addr.to_string());
    let state = v.active.name();
    let last = match v.last_probe {
        Probe::None => "null".to_string(),
        p => format!("\"{}\"", p.name()),
    };
    let ago = match v.last_probe {
        Probe::None => "null".to_string(),
        _ => now_ms.saturating_sub(v.last_probe_at).to_string(),
    };
    let ejected_for = v.ejected_until.saturating_sub(now_ms);
    let _ = write!(
        out,
        ",\"healthy\":{},\"active\":{{\"state\":\"{state}\",\"last_probe\":{last},\"last_probe_ms_ago\":{ago},\"passed_in_row\":{},\"failed_in_row\":{}}}",
        s.is_healthy(now_ms),
        v.passed_in_row,
        v.failed_in_row
    );
    let _ = write!(
        out,
        ",\"outlier\":{{\"consecutive_failures\":{},\"ejected\":{},\"ejected_for_ms\":{ejected_for},\"ejections\":{}}},\"shards\":[",
        v.consecutive_failures,
        ejected_for > 0,
        v.ejections
    );
    for (i, f) in v.shards.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        shard(out, i, f.as_ref(), now_ms);
    }
    out.push_str("]}");
}

/// `null` until the shard first published (within a second of its start).
fn shard(out: &mut String, index: usize, f: Option<&ShardFigures>, now_ms: u64) {
    let Some(f) = f else {
        out.push_str("null");
        return;
    };
    let _ = write!(
        out,
        "{{\"shard\":{index},\"idle\":{},\"busy\":{},\"draining\":{},\"open\":{},\"backoff_failures\":{},\"backoff_for_ms\":{}}}",
        f.idle,
        f.busy,
        f.draining,
        u64::from(f.idle) + u64::from(f.busy) + u64::from(f.draining),
        f.backoff_failures,
        f.backoff_until.saturating_sub(now_ms)
    );
}

fn string(out: &mut String, value: &str) {
    let mut bytes = Vec::with_capacity(value.len() + 2);
    bytes.push(b'"');
    crate::access_log::escape::json(&mut bytes, value.as_bytes(), usize::MAX);
    bytes.push(b'"');
    out.push_str(&String::from_utf8_lossy(&bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\n");
        assert_eq!(out, r#""a\"b\\c\u000a""#);
    }
}
