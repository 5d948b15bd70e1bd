//! `/metrics` in the Prometheus text format: probe latency histograms, state
//! transitions, the outbox depth, counts of what the host did (pool
//! acquisitions, breaker refusals, object-store calls, guest yields,
//! instances, texts embedded), each shard's requests in flight and answers by cache result,
//! the process's resident memory, and the coherence feed's state and lag.

use crate::coherence::{FeedMetrics, LAG_BUCKETS};
use crate::health::Registry;
use crate::histogram::Histogram;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of what the host did since it started. They let an operator (and
/// a test) tell "answered without touching the database" from "answered
/// quickly", which a latency cannot.
pub struct Counters {
    /// `zerodb_db_pool_acquisitions_total`: connections asked of the
    /// request pool (each a store call that reached the database side).
    pub db_pool_acquisitions: AtomicU64,
    /// `zerodb_db_breaker_refusals_total`: store calls refused at once
    /// because PostgreSQL is down, without touching the pool.
    pub db_breaker_refusals: AtomicU64,
    /// `zerodb_object_store_requests_total`: calls sent to the object store.
    pub object_store_requests: AtomicU64,
    /// `zerodb_object_store_refusals_total`: file requests refused at once
    /// because the object store is down or not configured.
    pub object_store_refusals: AtomicU64,
    /// `zerodb_edge_epoch_yields_total`: epoch ticks at which a busy guest
    /// gave its thread back to other requests.
    pub epoch_yields: AtomicU64,
    /// `zerodb_edge_requests_total{export="front"}`: requests read whole
    /// and queued for the component's `zerodb:edge/front`.
    pub requests_front: AtomicU64,
    /// `zerodb_edge_requests_total{export="wasi_http"}`: requests whose
    /// bodies streamed into the component's `wasi:http/handler`.
    pub requests_wasi_http: AtomicU64,
    /// `zerodb_edge_instances_started_total`.
    pub instances_started: AtomicU64,
    /// `zerodb_edge_instances_retired_total{reason="memory"}`: instances
    /// retired because their linear memory passed ¾ of the ceiling.
    pub instances_retired_memory: AtomicU64,
    /// `zerodb_edge_instances_overflow_total`: overflow instances started
    /// because a shard's instances left requests waiting.
    pub instances_overflow: AtomicU64,
    /// `zerodb_embedding_texts_total`: texts run through an embedding model
    /// (the edge's embedding cache answers the rest).
    pub embedding_texts: AtomicU64,
    /// `zerodb_embedding_batches_total`: forward passes of the embedding
    /// models (texts of concurrent requests share one).
    pub embedding_batches: AtomicU64,
    /// `zerodb_embedding_overloaded_total`: embedding requests refused with
    /// 503 `overloaded` because the model's queue was full.
    pub embedding_overloaded: AtomicU64,
}

/// The process's counters (one host per process).
pub static COUNTERS: Counters = Counters {
    db_pool_acquisitions: AtomicU64::new(0),
    db_breaker_refusals: AtomicU64::new(0),
    object_store_requests: AtomicU64::new(0),
    object_store_refusals: AtomicU64::new(0),
    epoch_yields: AtomicU64::new(0),
    requests_front: AtomicU64::new(0),
    requests_wasi_http: AtomicU64::new(0),
    instances_started: AtomicU64::new(0),
    instances_retired_memory: AtomicU64::new(0),
    instances_overflow: AtomicU64::new(0),
    embedding_texts: AtomicU64::new(0),
    embedding_batches: AtomicU64::new(0),
    embedding_overloaded: AtomicU64::new(0),
};

/// Adds one to `counter`.
pub fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The values of the `x-zerodb-cache` header the edge answers with.
pub const CACHE_RESULTS: [&str; 4] = ["hit", "miss", "stale", "bypass"];

/// One shard of edge instances: requests in flight, now and at most since
/// start, its live instances, and its answers by `x-zerodb-cache` value
/// ([`CACHE_RESULTS`]): how many, and how long each took from arrival to
/// the answer's head.
pub struct ShardLoad<'a> {
    pub in_flight: usize,
    pub high_water: usize,
    pub instances: usize,
    pub cache_results: [u64; 4],
    pub durations: &'a [Histogram; 4],
}

/// The process's resident memory in bytes (`VmRSS` in `/proc/self/status`);
/// none where there is no procfs.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    Some(kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok()? * 1024)
}

/// The whole `/metrics` page.
pub fn render(registry: &Registry, shards: &[ShardLoad<'_>]) -> String {
    let mut out = String::new();
    let c = &COUNTERS;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let counters: [(&str, &str, &AtomicU64); 10] = [
        (
            "zerodb_db_pool_acquisitions_total",
            "Connections asked of the request pool.",
            &c.db_pool_acquisitions,
        ),
        (
            "zerodb_db_breaker_refusals_total",
            "Store calls refused at once while PostgreSQL is down.",
            &c.db_breaker_refusals,
        ),
        (
            "zerodb_object_store_requests_total",
            "Calls sent to the object store.",
            &c.object_store_requests,
        ),
        (
            "zerodb_object_store_refusals_total",
            "File requests refused at once while the object store is down or absent.",
            &c.object_store_refusals,
        ),
        (
            "zerodb_edge_epoch_yields_total",
            "Epoch ticks at which a busy guest yielded its thread.",
            &c.epoch_yields,
        ),
        (
            "zerodb_edge_instances_started_total",
            "Edge component instances started.",
            &c.instances_started,
        ),
        (
            "zerodb_edge_instances_overflow_total",
            "Overflow instances started because a shard's instances left requests waiting.",
            &c.instances_overflow,
        ),
        (
            "zerodb_embedding_texts_total",
            "Texts run through an embedding model.",
            &c.embedding_texts,
        ),
        (
            "zerodb_embedding_batches_total",
            "Forward passes of the embedding models.",
            &c.embedding_batches,
        ),
        (
            "zerodb_embedding_overloaded_total",
            "Embedding requests refused because the model's queue was full.",
            &c.embedding_overloaded,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            load(value)
        );
    }
    out +=
        "# HELP zerodb_edge_requests_total Requests queued for the edge component, by the export that serves them.\n";
    out += "# TYPE zerodb_edge_requests_total counter\n";
    for (export, value) in [("front", &c.requests_front), ("wasi_http", &c.requests_wasi_http)] {
        let _ = writeln!(out, "zerodb_edge_requests_total{{export=\"{export}\"}} {}", load(value));
    }
    out += "# HELP zerodb_edge_instances_retired_total Edge instances retired, by reason.\n";
    out += "# TYPE zerodb_edge_instances_retired_total counter\n";
    let _ = writeln!(
        out,
        "zerodb_edge_instances_retired_total{{reason=\"memory\"}} {}",
        load(&c.instances_retired_memory)
    );
    out += "# HELP zerodb_edge_in_flight Requests in flight in each shard of edge instances.\n";
    out += "# TYPE zerodb_edge_in_flight gauge\n";
    for (i, s) in shards.iter().enumerate() {
        let _ = writeln!(out, "zerodb_edge_in_flight{{shard=\"{i}\"}} {}", s.in_flight);
    }
    out += "# HELP zerodb_edge_in_flight_high_water Most requests in flight at once in each shard since start.\n";
    out += "# TYPE zerodb_edge_in_flight_high_water gauge\n";
    for (i, s) in shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "zerodb_edge_in_flight_high_water{{shard=\"{i}\"}} {}",
            s.high_water
        );
    }
    out += "# HELP zerodb_edge_cache_requests_total Answers of each shard by x-zerodb-cache value (hit ratio: hit over all).\n";
    out += "# TYPE zerodb_edge_cache_requests_total counter\n";
    for (i, s) in shards.iter().enumerate() {
        for (result, n) in CACHE_RESULTS.iter().zip(s.cache_results) {
            let _ = writeln!(
                out,
                "zerodb_edge_cache_requests_total{{shard=\"{i}\",result=\"{result}\"}} {n}"
            );
        }
    }
    out += "# HELP zerodb_edge_request_duration_seconds Time from a request's arrival at its shard to its answer, by x-zerodb-cache value.\n";
    out += "# TYPE zerodb_edge_request_duration_seconds histogram\n";
    for (i, s) in shards.iter().enumerate() {
        for (result, histogram) in CACHE_RESULTS.iter().zip(s.durations) {
            let labels = format!("shard=\"{i}\",result=\"{result}\"");
            histogram.render(&mut out, "zerodb_edge_request_duration_seconds", &labels);
        }
    }
    out += "# HELP zerodb_edge_instances Live edge instances of each shard (primaries, overflow and retiring).\n";
    out += "# TYPE zerodb_edge_instances gauge\n";
    for (i, s) in shards.iter().enumerate() {
        let _ = writeln!(out, "zerodb_edge_instances{{shard=\"{i}\"}} {}", s.instances);
    }
    if let Some(bytes) = resident_bytes() {
        out += "# HELP process_resident_memory_bytes Resident memory of the host process, in bytes.\n";
        out += "# TYPE process_resident_memory_bytes gauge\n";
        let _ = writeln!(out, "process_resident_memory_bytes {bytes}");
    }
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
    render_feed(&mut out, &crate::coherence::FEED);
    let depth = registry.outbox_depth.load(Ordering::Relaxed);
    if depth >= 0 {
        out += "# HELP zerodb_outbox_depth Change events waiting in the Postgres outbox.\n";
        out += "# TYPE zerodb_outbox_depth gauge\n";
        let _ = writeln!(out, "zerodb_outbox_depth {depth}");
    }
    out
}

/// The coherence feed's series: `zerodb_edge_coherence_feed_up`,
/// `zerodb_edge_coherence_notices_total`,
/// `zerodb_edge_coherence_feed_resubscribes_total` and the histogram
/// `zerodb_edge_coherence_lag_seconds` (see [`FeedMetrics`] for what the lag
/// measures).
fn render_feed(out: &mut String, feed: &FeedMetrics) {
    *out += "# HELP zerodb_edge_coherence_feed_up Whether the coherence feed is live (1) or down (0).\n";
    *out += "# TYPE zerodb_edge_coherence_feed_up gauge\n";
    let _ = writeln!(out, "zerodb_edge_coherence_feed_up {}", feed.up());
    *out += "# HELP zerodb_edge_coherence_notices_total Notices received on the coherence feed, this host's own writes included.\n";
    *out += "# TYPE zerodb_edge_coherence_notices_total counter\n";
    let _ = writeln!(out, "zerodb_edge_coherence_notices_total {}", feed.notices());
    *out += "# HELP zerodb_edge_coherence_feed_resubscribes_total Times the coherence feed subscribed again after losing its connection.\n";
    *out += "# TYPE zerodb_edge_coherence_feed_resubscribes_total counter\n";
    let _ = writeln!(
        out,
        "zerodb_edge_coherence_feed_resubscribes_total {}",
        feed.resubscribes()
    );
    *out += "# HELP zerodb_edge_coherence_lag_seconds Time from a write's notice (stamped by PostgreSQL before its commit) to this host applying it; clock skew adds to it.\n";
    *out += "# TYPE zerodb_edge_coherence_lag_seconds histogram\n";
    let lag = feed.lag();
    for (bound, n) in LAG_BUCKETS.iter().zip(lag.buckets) {
        let _ = writeln!(out, "zerodb_edge_coherence_lag_seconds_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "zerodb_edge_coherence_lag_seconds_bucket{{le=\"+Inf\"}} {}",
        lag.count
    );
    let _ = writeln!(out, "zerodb_edge_coherence_lag_seconds_sum {}", lag.sum_seconds);
    let _ = writeln!(out, "zerodb_edge_coherence_lag_seconds_count {}", lag.count);
}
