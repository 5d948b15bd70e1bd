//! `/metrics` in the Prometheus text format: probe latency histograms, state
//! transitions, and the outbox depth.

use crate::health::Registry;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// A latency histogram with fixed buckets, updated without locks.
#[derive(Default)]
pub struct Histogram {
    /// Observations at or below each bound (not cumulative; summed when rendered).
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The whole `/metrics` page.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    out += "# HELP zerodb_health_probe_duration_seconds How long each health probe took.\n";
    out += "# TYPE zerodb_health_probe_duration_seconds histogram\n";
    for s in &registry.services {
        s.probe_latency.render(
            &mut out,
            "zerodb_health_probe_duration_seconds",
            &format!("service=\"{}\"", s.id.name()),
        );
    }
    out += "# HELP zerodb_health_transitions_total State changes of each service, by the state entered.\n";
    out += "# TYPE zerodb_health_transitions_total counter\n";
    for s in &registry.services {
        for (status, n) in s.transitions() {
            let _ = writeln!(
                out,
                "zerodb_health_transitions_total{{service=\"{}\",to=\"{}\"}} {n}",
                s.id.name(),
                status.as_str()
            );
        }
    }
    out += "# HELP zerodb_health_up Whether requests are routed to the service (1) or not (0).\n";
    out += "# TYPE zerodb_health_up gauge\n";
    for s in &registry.services {
        let _ = writeln!(
            out,
            "zerodb_health_up{{service=\"{}\"}} {}",
            s.id.name(),
            u8::from(s.usable())
        );
    }
    let depth = registry.outbox_depth.load(Ordering::Relaxed);
    if depth >= 0 {
        out += "# HELP zerodb_outbox_depth Change events waiting in the Postgres outbox.\n";
        out += "# TYPE zerodb_outbox_depth gauge\n";
        let _ = writeln!(out, "zerodb_outbox_depth {depth}");
    }
    out
}
