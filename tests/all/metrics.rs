//! What operators look at: every query of the Grafana dashboard
//! (`docs/grafana/zerodb-edge.json`) names a metric `/metrics` exports, and
//! the coherence feed's series count what the feed carried.

use crate::harness::{Server, TestDb};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The dashboard, as shipped.
fn dashboard() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana/zerodb-edge.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every string under a key `key`, anywhere in `value`.
fn strings_under(value: &Value, key: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == key => found.push(s.clone()),
                    _ => strings_under(v, key, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| strings_under(v, key, found)),
        _ => {}
    }
}

/// PromQL words that are not metric names: keywords and aggregation
/// operators (which may come before their `by (…)`, not their `(`), and the
/// clauses whose parenthesised list names labels.
const KEYWORDS: [&str; 17] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
const LABEL_CLAUSES: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The metric names a PromQL expression selects: its identifiers, leaving
/// out strings, label matchers (`{…}`), ranges (`[…]`), dashboard variables
/// (`$x`, `${x}`), numbers, function names (an identifier before `(`),
/// keywords and the label lists of `by (…)` and the like.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    // Skips from an opening delimiter to its closing one (not nested).
    let skip_to = |i: usize, close: char| -> usize {
        chars[i..]
            .iter()
            .position(|&c| c == close)
            .map_or(chars.len(), |n| i + n + 1)
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            // A string (label values only), escapes included.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
        } else if c == '{' {
            i = skip_to(i, '}');
        } else if c == '[' {
            i = skip_to(i, ']');
        } else if c == '$' {
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = skip_to(i, '}');
            } else {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // A number or a duration: 0.99, 1e-3, 5m.
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while chars.get(next).is_some_and(|c| c.is_whitespace()) {
                next += 1;
            }
            let call = chars.get(next) == Some(&'(');
            if LABEL_CLAUSES.contains(&word.as_str()) {
                if call {
                    i = skip_to(next, ')');
                }
            } else if !call && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The metric names the dashboard reads: those of every panel's `expr`, and
/// the selectors of its variables' `label_values(selector, label)` queries.
fn dashboard_metrics(dashboard: &Value) -> BTreeSet<String> {
    let mut exprs = Vec::new();
    strings_under(dashboard, "expr", &mut exprs);
    assert!(exprs.len() >= 15, "the dashboard has {} queries", exprs.len());
    let mut names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    let mut definitions = Vec::new();
    strings_under(&dashboard["templating"], "definition", &mut definitions);
    for definition in definitions {
        let selector = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .unwrap_or_else(|| panic!("unexpected variable query {definition:?}"))
            .0;
        names.extend(metric_names(selector));
    }
    names
}

/// The names `/metrics` exports: every sample's name, every `# HELP`'d
/// name, and the `_bucket`, `_sum` and `_count` series of each histogram.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            names.insert(rest.split(' ').next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(base) = rest.strip_suffix(" histogram") {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{base}{suffix}"));
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

fn scrape(server: &Server) -> String {
    let reply = server.send("GET", "/metrics", None, None);
    assert_eq!(reply.status, 200, "/metrics answered {}", reply.status);
    String::from_utf8(reply.body).unwrap()
}

/// Polls `server`'s metrics until `done` holds of them (10 s at most).
fn wait_metrics(server: &Server, what: &str, done: impl Fn(&HashMap<String, f64>) -> bool) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = server.metrics();
        if done(&metrics) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "{what}: {metrics:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            "histogram_quantile(0.99, sum by (instance, le) (rate(a_seconds_bucket{instance=~\"$instance\", x=\"y}\"}[$__rate_interval])))"
        ),
        ["a_seconds_bucket"]
    );
    assert_eq!(
        names("sum without (shard) (rate(x_total[5m])) / on (i) group_left(j) y or z > bool 0.5 offset 1h"),
        ["x_total", "y", "z"]
    );
    assert_eq!(names("up{job=\"a\"} and ${DS_PROMETHEUS}"), ["up"]);
    assert_eq!(names("count by (le) (a) + topk(3, b)"), ["a", "b"]);
}

/// Every metric the dashboard queries is one a host exports (the host runs
/// with a broker, so that the outbox depth, exported only then, is there).
/// Renaming a metric without the dashboard, or a typo in a query, fails it.
#[test]
fn every_dashboard_query_names_an_exported_metric() {
    let wanted = dashboard_metrics(&dashboard());
    for expected in [
        "zerodb_edge_cache_requests_total",
        "zerodb_edge_in_flight",
        "zerodb_edge_in_flight_high_water",
        "process_resident_memory_bytes",
        "zerodb_edge_coherence_lag_seconds_bucket",
        "zerodb_edge_coherence_feed_up",
        "zerodb_edge_instances_started_total",
        "zerodb_edge_instances_retired_total",
        "zerodb_edge_epoch_yields_total",
    ] {
        assert!(wanted.contains(expected), "the dashboard has no panel on {expected}");
    }
    let broker = crate::peers::tansu();
    let db = TestDb::new("metrics_dashboard");
    let key = db.key("ops");
    let env = [("ZERODB_REDPANDA_BROKERS", format!("127.0.0.1:{}", broker.port))];
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 2})))
        .ok();
    let body = json!({"vectors": [{"id": "a", "values": [1.0, 0.0]}]});
    server
        .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
        .ok();
    let search = json!({"vector": [1.0, 0.0], "k": 1});
    for _ in 0..3 {
        server
            .call("POST", "/v1/collections/docs/search", &key, Some(&search))
            .ok();
    }
    // The outbox depth appears once the publisher has measured it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(&server);
        let have = exported(&text);
        let missing: Vec<&String> = wanted.difference(&have).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard queries metrics /metrics does not export: {missing:?}\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two hosts over one database: every write through A is a notice on both
/// hosts' feeds (A hears its own too), each stamped notice is in the lag
/// histogram, and a feed cut once is resubscribed and counted.
#[test]
fn the_coherence_feed_counts_its_notices_and_their_lag() {
    const NOTICES: f64 = 1.0 + 5.0; // the collection created, then 5 writes
    let db = TestDb::new("metrics_feed");
    let key = db.key("ops");
    let a = Server::start(&db.url);
    let b = Server::start_with(&db.url, &["--edge-shards", "1"]);
    for host in [&a, &b] {
        wait_metrics(host, "the feed never came up", |m| {
            m.get("zerodb_edge_coherence_feed_up") == Some(&1.0)
        });
        assert_eq!(host.metric("zerodb_edge_coherence_notices_total"), 0.0);
        assert_eq!(host.metric("zerodb_edge_coherence_lag_seconds_count"), 0.0);
    }
    a.call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 2})))
        .ok();
    for i in 0..5 {
        let body = json!({"vectors": [{"id": format!("v{i}"), "values": [1.0, i as f32]}]});
        a.call("PUT", "/v1/collections/docs/vectors", &key, Some(&body)).ok();
    }
    for (name, host) in [("A", &a), ("B", &b)] {
        let m = wait_metrics(host, &format!("{name} did not hear every write"), |m| {
            m.get("zerodb_edge_coherence_notices_total")
                .is_some_and(|&n| n >= NOTICES)
        });
        assert_eq!(m["zerodb_edge_coherence_notices_total"], NOTICES, "{name}");
        assert_eq!(m["zerodb_edge_coherence_lag_seconds_count"], NOTICES, "{name}");
        assert_eq!(
            m["zerodb_edge_coherence_lag_seconds_bucket{le=\"+Inf\"}"], NOTICES,
            "{name}"
        );
        // One machine, one clock: each notice arrives well within a second
        // (the sum is of clamped, non-negative lags).
        let sum = m["zerodb_edge_coherence_lag_seconds_sum"];
        assert!((0.0..NOTICES).contains(&sum), "{name}: lag sum {sum}");
        assert_eq!(
            m["zerodb_edge_coherence_lag_seconds_bucket{le=\"1\"}"], NOTICES,
            "{name}"
        );
        assert_eq!(m["zerodb_edge_coherence_feed_up"], 1.0, "{name}");
        assert_eq!(m["zerodb_edge_coherence_feed_resubscribes_total"], 0.0, "{name}");
    }
    // B's search sees A's last write: the table was advanced from the feed.
    let search = json!({"vector": [1.0, 0.0], "k": 1});
    let version = b.call("POST", "/v1/collections/docs/search", &key, Some(&search)).ok()["version"].as_u64();
    assert_eq!(version, Some(5));

    // Cut B's feed connection: it comes back by itself, counted once.
    let cut: i64 = db
        .client()
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("zerodb-edge-feed-{}", b.pid())],
        )
        .unwrap()
        .get(0);
    assert_eq!(cut, 1, "B's feed connection");
    wait_metrics(&b, "B's feed did not resubscribe", |m| {
        m.get("zerodb_edge_coherence_feed_resubscribes_total") == Some(&1.0)
            && m.get("zerodb_edge_coherence_feed_up") == Some(&1.0)
    });
    assert_eq!(a.metric("zerodb_edge_coherence_feed_resubscribes_total"), 0.0);
}
