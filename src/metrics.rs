//! Process metrics in Prometheus text format: HTTP requests by route and status with a latency
//! histogram, and named counters other modules bump (webhook outcomes, dedup hits, ...). Gauges that
//! describe live state (actors, backlog) are supplied when rendering.

use dashmap::DashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    count: AtomicU64,
    sum_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    http: DashMap<(String, String, u16), AtomicU64>,
    http_latency: DashMap<String, Histogram>,
    counters: DashMap<(&'static str, String), AtomicU64>,
    histograms: DashMap<&'static str, Histogram>,
}

impl Metrics {
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http.entry((method.to_string(), route.to_string(), status)).or_default().fetch_add(1, Ordering::Relaxed);
        self.http_latency.entry(route.to_string()).or_default().observe(elapsed);
    }

    /// Adds `n` to the counter `name{label}`. Names are `pytake_` metric names.
    pub fn add(&self, name: &'static str, label: &str, n: u64) {
        self.counters.entry((name, label.to_string())).or_default().fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, name: &'static str, label: &str) -> u64 {
        self.counters.get(&(name, label.to_string())).map(|c| c.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Records a duration in the histogram `name` (seconds).
    pub fn observe(&self, name: &'static str, d: Duration) {
        // A shared read of the map's shard once the histogram exists (some are observed per
        // socket frame, 100,000 times a second in the fan-out benchmark).
        match self.histograms.get(name) {
            Some(h) => h.observe(d),
            None => self.histograms.entry(name).or_default().observe(d),
        }
    }

    /// Renders everything, plus the given live values `(name, help, value)`; names ending in
    /// `_total` are typed as counters, the rest as gauges.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP pytake_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE pytake_http_requests_total counter\n");
        for e in self.http.iter() {
            let (method, route, status) = e.key();
            let _ = writeln!(
                out,
                "pytake_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                e.value().load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP pytake_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE pytake_http_request_duration_seconds histogram\n");
        for e in self.http_latency.iter() {
            write_histogram(
                &mut out,
                "pytake_http_request_duration_seconds",
                &format!("route=\"{}\"", escape(e.key())),
                e.value(),
            );
        }
        let mut names: Vec<&'static str> = self.counters.iter().map(|e| e.key().0).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let _ = writeln!(out, "# TYPE {name} counter");
            for e in self.counters.iter().filter(|e| e.key().0 == name) {
                let label = &e.key().1;
                if label.is_empty() {
                    let _ = writeln!(out, "{name} {}", e.value().load(Ordering::Relaxed));
                } else {
                    let _ = writeln!(out, "{name}{{kind=\"{}\"}} {}", escape(label), e.value().load(Ordering::Relaxed));
                }
            }
        }
        for e in self.histograms.iter() {
            let _ = writeln!(out, "# TYPE {} histogram", e.key());
            write_histogram(&mut out, e.key(), "", e.value());
        }
        for (name, help, value) in gauges {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

fn write_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (i, bound) in BUCKETS.iter().enumerate() {
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}", h.buckets[i].load(Ordering::Relaxed));
    }
    let count = h.count.load(Ordering::Relaxed);
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
    let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
    let _ = writeln!(out, "{name}_sum{braces} {}", h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{braces} {count}");
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
