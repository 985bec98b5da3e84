//! `GET /config`: the generation being served, the file it was loaded from
//! (path, SHA-256 of the bytes loaded, load time in RFC 3339), and the
//! effective config (defaults filled in, host names resolved) as JSON.
//!
//! Redaction is by type: secrets in the config are `shardgate_config::Secret`,
//! which renders as `"[redacted]"` (today the admin token), and key material
//! loaded from files (TLS private keys, CA certificates) is not part of the
//! rendering at all; the paths of those files are shown, as they are not
//! secret. Durations are shown as the config writes them (`"30s"`).

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::reply::Reply;
use crate::control::ConfigFile;
use crate::snapshot::Snapshot;

pub fn render(snap: &Snapshot, file: Option<&ConfigFile>) -> Reply {
    let config = match serde_json::to_value(&snap.config) {
        Ok(mut v) => {
            durations(&mut v);
            v
        }
        // Only a path that is not UTF-8 can fail here.
        Err(e) => {
            return Reply::json(
                500,
                &json!({ "error": format!("the config cannot be shown as JSON: {e}") }),
            )
        }
    };
    let file = file.map(|f| {
        json!({
            "path": f.path.display().to_string(),
            "sha256": f.sha256,
            "loaded_at": rfc3339(f.loaded_at),
            "generation": f.generation,
        })
    });
    Reply::json(
        200,
        &json!({
            "generation": snap.generation,
            "file": file,
            "config": config,
        }),
    )
}

/// serde renders a `Duration` as `{"secs": s, "nanos": n}`; every such
/// object becomes the string the config would write (`"1m30s"`, `"250ms"`).
/// No config table has exactly these two keys, so nothing else is touched.
fn durations(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(text) = duration_text(map) {
                *v = Value::String(text);
                return;
            }
            map.values_mut().for_each(durations);
        }
        Value::Array(items) => items.iter_mut().for_each(durations),
        _ => {}
    }
}

fn duration_text(map: &Map<String, Value>) -> Option<String> {
    if map.len() != 2 {
        return None;
    }
    let secs = map.get("secs")?.as_u64()?;
    let nanos = map.get("nanos")?.as_u64()?;
    let ms = secs.checked_mul(1000)?.checked_add(nanos / 1_000_000)?;
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        let n = rest / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0ms");
    }
    Some(out)
}

fn rfc3339(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(24);
    crate::access_log::time::rfc3339_millis(&mut out, t);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_become_config_strings() {
        let mut v = json!({
            "a": {"secs": 90, "nanos": 0},
            "b": [{"secs": 0, "nanos": 250_000_000}],
            "c": {"secs": 3600, "nanos": 0, "other": 1},
            "d": {"secs": 0, "nanos": 0},
        });
        durations(&mut v);
        assert_eq!(v["a"], "1m30s");
        assert_eq!(v["b"][0], "250ms");
        assert_eq!(v["c"]["secs"], 3600, "not a duration: left alone");
        assert_eq!(v["d"], "0ms");
    }
}
