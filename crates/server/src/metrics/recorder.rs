//! The process's `metrics` recorder: counters and gauges are atomics, histograms
//! are [`FixedHistogram`]s, all kept in `metrics-util`'s registry. Handles are
//! created when a shard starts; recording through a handle never touches the
//! registry again. `render` writes the Prometheus text format for `/metrics`.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{Registry, Storage};

use super::histogram::{FixedHistogram, BOUNDS};

pub struct PromStorage;

impl Storage<Key> for PromStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<FixedHistogram>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::new(AtomicU64::new(0))
    }
    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::new(AtomicU64::new(0))
    }
    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::new(FixedHistogram::default())
    }
}

#[derive(Clone)]
pub struct PromRecorder {
    registry: Arc<Registry<Key, PromStorage>>,
    /// `# HELP` text by metric name. A lock is fine here: descriptions are
    /// written at start-up and read by `render` on the admin thread, never on
    /// the request path (shards record through handles).
    help: Arc<RwLock<HashMap<String, String>>>,
}

impl Recorder for PromRecorder {
    // The 0.0.4 text format has no unit line; names carry their unit
    // (`_seconds`, `_bytes`), so only the text is kept.
    fn describe_counter(&self, name: KeyName, _: Option<Unit>, help: SharedString) {
        self.describe(name, help);
    }
    fn describe_gauge(&self, name: KeyName, _: Option<Unit>, help: SharedString) {
        self.describe(name, help);
    }
    fn describe_histogram(&self, name: KeyName, _: Option<Unit>, help: SharedString) {
        self.describe(name, help);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.registry.get_or_create_counter(key, |c| c.clone()))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.registry.get_or_create_gauge(key, |g| g.clone()))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.registry.get_or_create_histogram(key, |h| h.clone()))
    }
}

static INSTALLED: OnceLock<Option<PromRecorder>> = OnceLock::new();

/// Installs the recorder once per process. `None` when another recorder was
/// installed first (an embedding program's): then `/metrics` says so.
pub fn install() -> Option<&'static PromRecorder> {
    INSTALLED
        .get_or_init(|| {
            let rec = PromRecorder::new();
            metrics::with_local_recorder(&rec, super::describe::describe_all);
            metrics::set_global_recorder(rec.clone()).ok().map(|_| rec)
        })
        .as_ref()
}

impl PromRecorder {
    pub(crate) fn new() -> Self {
        PromRecorder {
            registry: Arc::new(Registry::new(PromStorage)),
            help: Arc::default(),
        }
    }

    fn describe(&self, name: KeyName, help: SharedString) {
        // A poisoned lock only means a panic elsewhere mid-insert; the map is
        // still usable.
        let mut map = self.help.write().unwrap_or_else(|p| p.into_inner());
        map.insert(name.as_str().to_string(), help.to_string());
    }

    /// Prometheus text exposition format 0.0.4, metrics sorted by name.
    pub fn render(&self) -> String {
        let mut lines: Vec<(String, String, &'static str)> = Vec::new();
        self.registry.visit_counters(|k, c| {
            let v = c.load(Ordering::Relaxed);
            lines.push((
                k.name().to_string(),
                format!("{}{} {v}\n", k.name(), labels(k, None)),
                "counter",
            ));
        });
        self.registry.visit_gauges(|k, g| {
            let v = f64::from_bits(g.load(Ordering::Relaxed));
            lines.push((
                k.name().to_string(),
                format!("{}{} {v}\n", k.name(), labels(k, None)),
                "gauge",
            ));
        });
        self.registry.visit_histograms(|k, h| {
            let (buckets, count, sum) = h.snapshot();
            let mut s = String::new();
            for (b, n) in BOUNDS.iter().zip(buckets.iter()) {
                let _ = writeln!(
                    s,
                    "{}_bucket{} {n}",
                    k.name(),
                    labels(k, Some(&b.to_string()))
                );
            }
            let _ = writeln!(s, "{}_bucket{} {count}", k.name(), labels(k, Some("+Inf")));
            let _ = writeln!(s, "{}_sum{} {sum}", k.name(), labels(k, None));
            let _ = writeln!(s, "{}_count{} {count}", k.name(), labels(k, None));
            lines.push((k.name().to_string(), s, "histogram"));
        });
        lines.sort();
        let help = self.help.read().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let mut last = String::new();
        for (name, text, kind) in lines {
            if name != last {
                if let Some(h) = help.get(&name) {
                    let _ = writeln!(out, "# HELP {name} {}", escape_help(h));
                }
                let _ = writeln!(out, "# TYPE {name} {kind}");
                last = name;
            }
            out.push_str(&text);
        }
        out
    }
}

fn labels(k: &Key, le: Option<&str>) -> String {
    let mut parts: Vec<String> = k
        .labels()
        .map(|l| format!("{}=\"{}\"", l.key(), escape(l.value())))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// HELP text escapes only backslash and newline (quotes stay as they are).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_kind_in_prometheus_text() {
        let rec = PromRecorder::new();
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let c = rec.register_counter(
            &Key::from_parts("t_total", vec![metrics::Label::new("shard", "0")]),
            &meta,
        );
        c.increment(3);
        let g = rec.register_gauge(&Key::from_name("t_active"), &meta);
        g.set(2.0);
        let h = rec.register_histogram(
            &Key::from_parts("t_seconds", vec![metrics::Label::new("q", "a\"b")]),
            &meta,
        );
        h.record(0.002);
        let text = rec.render();
        assert!(
            text.contains("# TYPE t_total counter\nt_total{shard=\"0\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE t_active gauge\nt_active 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{q=\"a\\\"b\",le=\"0.001\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{q=\"a\\\"b\",le=\"0.0025\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("t_seconds_count{q=\"a\\\"b\"} 1\n"), "{text}");
        assert!(!text.contains("# HELP"), "nothing was described: {text}");
    }

    #[test]
    fn help_comes_before_type_and_is_escaped() {
        let rec = PromRecorder::new();
        rec.describe_counter(
            "t_total".into(),
            None,
            "a \"quoted\" C:\\path\nsecond line".into(),
        );
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        rec.register_counter(&Key::from_name("t_total"), &meta)
            .increment(1);
        assert_eq!(
            rec.render(),
            "# HELP t_total a \"quoted\" C:\\\\path\\nsecond line\n# TYPE t_total counter\nt_total 1\n"
        );
    }
}
