//! The service registry against scripted health peers: every state change
//! happens within interval × threshold (+ one timeout) of the peer changing,
//! flapping below the thresholds never flips a state, and each service's
//! probe reads its endpoints the way the service defines them.

use crate::harness::{with_port, Server, TestDb};
use crate::peers::{HealthPeer, Kind, Mode, StallLink};
use serde_json::Value;
use std::time::{Duration, Instant};

const INTERVAL_MS: u64 = 200;
const TIMEOUT_MS: u64 = 300;
const UNHEALTHY: u64 = 3;
const HEALTHY: u64 = 2;
/// Polling /v1/health and scheduling add a little to every measurement.
const SLACK_MS: u64 = 150;

pub fn probe_env() -> Vec<(&'static str, String)> {
    vec![
        ("ZERODB_HEALTH_INTERVAL_MS", INTERVAL_MS.to_string()),
        ("ZERODB_HEALTH_DOWN_INTERVAL_MS", INTERVAL_MS.to_string()),
        ("ZERODB_HEALTH_TIMEOUT_MS", TIMEOUT_MS.to_string()),
        ("ZERODB_HEALTH_UNHEALTHY_THRESHOLD", UNHEALTHY.to_string()),
        ("ZERODB_HEALTH_HEALTHY_THRESHOLD", HEALTHY.to_string()),
    ]
}

/// The service's entry in `/v1/health`.
pub fn service(server: &Server, key: &str, name: &str) -> Value {
    let health = server.call("GET", "/v1/health", key, None).ok();
    health["services"][name].clone()
}

pub fn status(server: &Server, key: &str, name: &str) -> String {
    service(server, key, name)["status"].as_str().unwrap_or("?").to_string()
}

/// Waits for `name` to reach `want`; returns how long that took.
pub fn wait_status(server: &Server, key: &str, name: &str, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let now = status(server, key, name);
        if now == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{name} still {now} (not {want}) after {limit:?}: {}",
            service(server, key, name)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Samples the status for `span`; fails if it ever equals `never`.
fn hold(server: &Server, key: &str, name: &str, never: &str, span: Duration) {
    let start = Instant::now();
    while start.elapsed() < span {
        let now = status(server, key, name);
        assert_ne!(
            now, never,
            "{name} flipped to {never} while flapping below the threshold"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The routing table's entry for `operation` in `/v1/health`.
fn route(server: &Server, key: &str, operation: &str) -> Value {
    let health = server.call("GET", "/v1/health", key, None).ok();
    let routes = health["routes"].as_array().expect("routes").clone();
    routes
        .into_iter()
        .find(|r| r["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} route in {health}"))
}

/// Waits until `peer` has answered `n` probes since it was last switched.
fn wait_probes(peer: &HealthPeer, n: usize, limit: Duration) {
    let start = Instant::now();
    while peer.probes() < n {
        assert!(start.elapsed() < limit, "only {} probes in {limit:?}", peer.probes());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The bound of the issue: interval × threshold + one timeout.
fn bound(threshold: u64) -> Duration {
    ms(INTERVAL_MS * threshold + TIMEOUT_MS + SLACK_MS)
}

/// A server watching one scripted peer. Fields drop in order: the server
/// stops before its database goes.
struct Watch {
    server: Server,
    peer: HealthPeer,
    key: String,
    _db: TestDb,
}

/// Healthy → down → healthy → flapping both ways → refused, for one peer.
fn lifecycle(kind: Kind, name: &str, url_var: &'static str, extra_env: &[(&'static str, String)]) -> Watch {
    let db = TestDb::new(&format!("health_{name}"));
    let key = db.key("ops");
    let peer = HealthPeer::start(kind);
    let mut env = probe_env();
    env.push((url_var, peer.url()));
    env.extend(extra_env.iter().cloned());
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    wait_status(&server, &key, name, "healthy", Duration::from_secs(5));

    peer.set(Mode::Unhealthy);
    let took = wait_status(&server, &key, name, "down", bound(UNHEALTHY));
    // The threshold held: it took more than one failed probe.
    assert!(
        took >= ms(INTERVAL_MS * (UNHEALTHY - 1) * 85 / 100 - SLACK_MS),
        "{name} went down after {took:?}, before {UNHEALTHY} probes could fail"
    );
    let error = service(&server, &key, name)["last_error"].clone();
    assert!(error.is_string(), "a down service says why: {error}");

    peer.set(Mode::Healthy);
    let back = wait_status(&server, &key, name, "healthy", bound(HEALTHY));

    // Two failures, one success, again and again: never three in a row.
    peer.flap(&[Mode::Unhealthy, Mode::Unhealthy, Mode::Healthy]);
    hold(&server, &key, name, "down", ms(INTERVAL_MS * 12));
    peer.set(Mode::Unhealthy);
    wait_status(&server, &key, name, "down", bound(UNHEALTHY));
    // Down: one success between failures never makes two in a row.
    peer.flap(&[Mode::Healthy, Mode::Unhealthy]);
    hold(&server, &key, name, "healthy", ms(INTERVAL_MS * 12));
    peer.set(Mode::Healthy);
    wait_status(&server, &key, name, "healthy", bound(HEALTHY));

    // Nothing listening counts at once: down after one probe.
    peer.set(Mode::Refused);
    let refused = wait_status(&server, &key, name, "down", bound(1));
    eprintln!("{name}: down {took:?} after failing (bound {:?}), healthy {back:?} after recovering (bound {:?}), down {refused:?} after refusing (bound {:?})", bound(UNHEALTHY), bound(HEALTHY), bound(1));
    peer.set(Mode::Healthy);
    wait_status(&server, &key, name, "healthy", bound(HEALTHY));
    Watch {
        server,
        peer,
        key,
        _db: db,
    }
}

#[test]
fn qdrant_readyz_thresholds_and_timeouts() {
    let Watch { server, peer, key, _db } = lifecycle(Kind::Qdrant, "qdrant", "ZERODB_QDRANT_URL", &[]);
    let search = route(&server, &key, "search");
    assert_eq!(
        search["preferred"], "qdrant",
        "a healthy Qdrant is the preferred search route"
    );
    assert_eq!(search["route"], "postgres", "searches stay on pgvector");

    // A probe that outlasts its timeout is a failure: down after the
    // threshold, each failed probe costing interval + timeout.
    peer.set(Mode::Slow);
    wait_status(
        &server,
        &key,
        "qdrant",
        "down",
        ms((INTERVAL_MS + TIMEOUT_MS) * UNHEALTHY + SLACK_MS),
    );
    assert!(peer.paths().iter().any(|p| p == "/readyz"));
    // A Qdrant that is down is no longer the preferred search route.
    let search = route(&server, &key, "search");
    assert!(search["preferred"].is_null(), "{search}");
    assert_eq!(search["route"], "postgres");
}

#[test]
fn qdrant_cluster_consensus_not_working_is_degraded() {
    let db = TestDb::new("health_qdrant_cluster");
    let key = db.key("ops");
    let peer = HealthPeer::start(Kind::Qdrant);
    let mut env = probe_env();
    env.push(("ZERODB_QDRANT_URL", peer.url()));
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    wait_status(&server, &key, "qdrant", "healthy", Duration::from_secs(5));

    // Cluster mode with consensus working is healthy. Three probes
    // requested after the switch: at least two have been read.
    peer.set(Mode::Clustered);
    wait_probes(&peer, 3, bound(3));
    assert_eq!(
        status(&server, &key, "qdrant"),
        "healthy",
        "{}",
        service(&server, &key, "qdrant")
    );

    // Consensus stopped: degraded after one probe (it answers), still used.
    peer.set(Mode::Degraded);
    wait_status(&server, &key, "qdrant", "degraded", bound(1));
    let entry = service(&server, &key, "qdrant");
    assert_eq!(
        entry["last_error"], "cluster consensus thread is \"stopped_with_err\"",
        "{entry}"
    );
    assert_eq!(entry["consecutive_failures"], 0, "{entry}");
    let health = server.call("GET", "/v1/health", &key, None).ok();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(peer.paths().iter().any(|p| p == "/cluster"));

    peer.set(Mode::Clustered);
    wait_status(&server, &key, "qdrant", "healthy", bound(1));
    assert!(service(&server, &key, "qdrant")["last_error"].is_null());
}

#[test]
fn minio_probe_checks_quorum_not_live() {
    let Watch { server, peer, key, _db } = lifecycle(
        Kind::Minio,
        "minio",
        "ZERODB_MINIO_URL",
        &[
            ("ZERODB_MINIO_ACCESS_KEY", "k".into()),
            ("ZERODB_MINIO_SECRET_KEY", "s".into()),
            ("ZERODB_MINIO_BUCKET", "files".into()),
        ],
    );
    peer.set(Mode::Unhealthy);
    wait_status(&server, &key, "minio", "down", bound(UNHEALTHY));
    // `/live` still says 200 (with the offline header), and it did not fool the probe.
    let live = ureq::get(&format!("{}/minio/health/live", peer.url())).call().unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.headers()["x-minio-server-status"], "offline");
    let paths = peer.paths();
    assert!(paths.iter().any(|p| p == "/minio/health/cluster"));
    assert!(paths.iter().any(|p| p == "/minio/health/cluster/read"));
    // The files route follows: 503 with Retry-After, at once.
    let reply = server.send("GET", "/v1/files/a.txt", Some(&key), None);
    assert_eq!((reply.status, reply.error_code()), (503, "files_unavailable"));
    assert!(reply.retry_after.is_some());
    assert!(reply.elapsed < Duration::from_secs(1));

    // 412 (maintenance) is down too, after the threshold like any answer
    // that is not 200.
    peer.set(Mode::Healthy);
    wait_status(&server, &key, "minio", "healthy", bound(HEALTHY));
    peer.set(Mode::Maintenance);
    wait_status(&server, &key, "minio", "down", bound(UNHEALTHY));
    let entry = service(&server, &key, "minio");
    let error = entry["last_error"].as_str().unwrap_or_default();
    assert!(error.starts_with("/minio/health/cluster answered 412"), "{entry}");
    assert!(!route(&server, &key, "files")["available"].as_bool().unwrap());
}

#[test]
fn redpanda_ready_probe_reads_the_body() {
    // `/v1/status/ready` answers 200 while booting: only its body says so.
    let Watch { server, peer, key, _db } = lifecycle(Kind::RedpandaAdmin, "redpanda", "ZERODB_REDPANDA_ADMIN_URL", &[]);
    assert!(peer.paths().iter().any(|p| p == "/v1/cluster/health_overview"));
    // Ready but `is_healthy: false`: degraded, still routed to.
    peer.set(Mode::Degraded);
    wait_status(&server, &key, "redpanda", "degraded", bound(1));
    let entry = service(&server, &key, "redpanda");
    assert!(entry["last_error"].as_str().unwrap().contains("nodes_down"), "{entry}");
    peer.set(Mode::Healthy);
    wait_status(&server, &key, "redpanda", "healthy", bound(1));
}

/// The port of a database URL.
fn port_of(url: &str) -> u16 {
    let (_, tail) = url.rsplit_once(':').unwrap();
    tail.split('/').next().unwrap().parse().unwrap()
}

#[test]
fn postgres_probe_that_times_out_is_down() {
    let db = TestDb::new("health_pg_timeout");
    let key = db.key("ops");
    let link = StallLink::open(port_of(&db.url));
    let mut env = probe_env();
    // The key stays resolved while the database hangs.
    env.push(("ZERODB_AUTH_CACHE_MS", "600000".into()));
    let server = Server::start_env(&with_port(&db.url, link.port), &["--migrate"], &env);
    wait_status(&server, &key, "postgres", "healthy", Duration::from_secs(5));

    // Connections stay open, nothing answers: each probe fails at its
    // timeout, and the threshold's worth of them make it down.
    link.stall();
    wait_status(
        &server,
        &key,
        "postgres",
        "down",
        ms((INTERVAL_MS + TIMEOUT_MS) * UNHEALTHY + SLACK_MS),
    );
    let entry = service(&server, &key, "postgres");
    assert_eq!(
        entry["last_error"],
        format!("no answer within {TIMEOUT_MS} ms"),
        "{entry}"
    );
    let latency = entry["latency_ms"].as_f64().unwrap();
    assert!(
        (TIMEOUT_MS as f64..(TIMEOUT_MS + 200) as f64).contains(&latency),
        "a timed-out probe took its timeout: {entry}"
    );
    let health = server.call("GET", "/v1/health", &key, None).ok();
    assert_eq!(health["status"], "down", "{health}");
}

#[test]
fn unconfigured_services_are_disabled_and_metrics_are_exported() {
    let db = TestDb::new("health_disabled");
    let key = db.key("ops");
    let server = Server::start_env(&db.url, &["--migrate"], &probe_env());
    wait_status(&server, &key, "postgres", "healthy", Duration::from_secs(5));
    for name in ["qdrant", "minio", "redpanda"] {
        assert_eq!(status(&server, &key, name), "disabled");
    }
    let health = server.call("GET", "/v1/health", &key, None).ok();
    assert_eq!(health["status"], "ok");
    assert!(
        health["edge"]["cache"].is_object(),
        "the edge's cache stats stay in /v1/health"
    );
    let metrics = server.send("GET", "/metrics", None, None);
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    let probes: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("zerodb_health_probe_duration_seconds_count{service=\"postgres\"} "))
        .expect("postgres probe histogram")
        .parse()
        .unwrap();
    assert!(probes >= 1, "{text}");
    assert!(
        text.contains("zerodb_health_transitions_total{service=\"postgres\",to=\"healthy\"} 1"),
        "{text}"
    );
    assert!(text.contains("zerodb_health_up{service=\"minio\"} 0"));
}
