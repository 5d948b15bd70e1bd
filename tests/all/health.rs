//! The service registry against scripted health peers: every state change
//! happens within interval × threshold (+ one timeout) of the peer changing,
//! flapping below the thresholds never flips a state, and each service's
//! probe reads its endpoints the way the service defines them.

use crate::harness::{with_port, Server, TestDb};
use crate::peers::{HealthPeer, Kind, Mode, StallLink};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use zerodb_test_support::health::*;

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

/// Once `peer` fails every probe: waits for `name` to go down, checking
/// against the probe counts that it stayed up while fewer than the
/// threshold of failed probes in a row had been read, and went down only
/// once the threshold was reached. Returns how long that took.
fn wait_down_at_threshold(server: &Server, key: &str, name: &str, peer: &HealthPeer) -> Duration {
    let start = Instant::now();
    let mut counts = Vec::new();
    loop {
        let entry = service(server, key, name);
        // Read after the entry: every failure the host has read was
        // answered (and counted) by the peer before.
        let answered = peer.probes() as u64;
        let failures = entry["consecutive_failures"].as_u64().expect("consecutive_failures");
        assert!(
            failures <= answered,
            "{name}: {failures} failed probes read, {answered} answered: {entry}"
        );
        counts.push(failures);
        match entry["status"].as_str() {
            Some("healthy") => assert!(
                failures < UNHEALTHY,
                "{name} still healthy after {failures} failed probes in a row: {entry}"
            ),
            Some("down") => {
                // At least the threshold (a poll delayed past the next probe
                // on a busy machine may read one more failure; the healthy
                // arm above catches a threshold that is too high).
                assert!(
                    failures >= UNHEALTHY,
                    "{name} went down after {failures} failed probes, not {UNHEALTHY}: {entry}"
                );
                return start.elapsed();
            }
            _ => panic!("{name}: {entry}"),
        }
        assert!(
            start.elapsed() < bound(UNHEALTHY),
            "{name} not down after {:?}; failed probes seen: {counts:?}",
            bound(UNHEALTHY)
        );
        std::thread::sleep(ms(5));
    }
}

/// Waits for `name` to go down on probes that time out (each costing
/// interval + timeout), and checks that it says so and that its last probe
/// took the timeout.
fn wait_timed_out(server: &Server, key: &str, name: &str) {
    wait_status(
        server,
        key,
        name,
        "down",
        ms((INTERVAL_MS + TIMEOUT_MS) * UNHEALTHY + SLACK_MS),
    );
    let entry = service(server, key, name);
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
    let took = wait_down_at_threshold(&server, &key, name, &peer);
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
    // Each probe gives up at its timeout, and says so.
    wait_timed_out(&server, &key, "qdrant");
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
    // The files route follows: 503 with Retry-After, refused without a
    // call to the store.
    let calls = server.metric("zerodb_object_store_requests_total");
    let reply = server.send("GET", "/v1/files/a.txt", Some(&key), None);
    assert_eq!((reply.status, reply.error_code()), (503, "files_unavailable"));
    assert!(reply.retry_after.is_some());
    assert_eq!(server.metric("zerodb_object_store_requests_total"), calls);

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
    wait_timed_out(&server, &key, "postgres");
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
    assert_eq!(health["edge"]["simd128"], true, "the component runs its SIMD kernels");
    // Without brokers there is no outbox to measure.
    assert!(health["outbox"]["depth"].is_null(), "{health}");
    for name in ["qdrant", "minio", "redpanda"] {
        let entry = &health["services"][name];
        assert!(
            entry["latency_ms"].is_null() && entry["last_check_ms"].is_null(),
            "{entry}"
        );
    }

    // Postgres' last probe: how long it took, and when (ms since the epoch,
    // now or a moment ago), later at the next probe.
    let pg = service(&server, &key, "postgres");
    let latency = pg["latency_ms"].as_f64().expect("latency_ms is a number");
    assert!((0.0..TIMEOUT_MS as f64).contains(&latency), "{pg}");
    let first = pg["last_check_ms"].as_u64().expect("last_check_ms is an integer");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        first <= now_ms && now_ms - first < 5_000,
        "{first} is not about {now_ms}"
    );
    let start = Instant::now();
    let second = loop {
        let check = service(&server, &key, "postgres")["last_check_ms"].as_u64().unwrap();
        if check != first {
            break check;
        }
        assert!(start.elapsed() < ms(INTERVAL_MS * 3), "no probe since {first}");
        std::thread::sleep(ms(5));
    };
    // The next probe came after the interval less its jitter, at least.
    assert!(second >= first + INTERVAL_MS * 85 / 100, "{first} then {second}");

    let metrics = server.send("GET", "/metrics", None, None);
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(!text.contains("zerodb_outbox_depth"), "{text}");
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

/// `outbox.depth` of `/v1/health` and `zerodb_outbox_depth` of `/metrics`.
fn depths(server: &Server, key: &str) -> (Value, Option<i64>) {
    let health = server.call("GET", "/v1/health", key, None).ok();
    let metrics = String::from_utf8(server.send("GET", "/metrics", None, None).body).unwrap();
    let gauge = metrics
        .lines()
        .find_map(|l| l.strip_prefix("zerodb_outbox_depth "))
        .map(|n| n.parse().unwrap_or_else(|_| panic!("zerodb_outbox_depth {n:?}")));
    (health["outbox"]["depth"].clone(), gauge)
}

/// Waits until both depths are `want`.
fn wait_depth(server: &Server, key: &str, want: i64) {
    let start = Instant::now();
    loop {
        let (depth, gauge) = depths(server, key);
        if depth.as_i64() == Some(want) && gauge == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "outbox depth {depth}, gauge {gauge:?}, not {want}"
        );
        std::thread::sleep(ms(20));
    }
}

#[test]
fn outbox_depth_counts_the_waiting_events() {
    let mut broker = crate::peers::tansu();
    let db = TestDb::new("health_outbox");
    let key = db.key("ops");
    let mut env = probe_env();
    env.push(("ZERODB_REDPANDA_BROKERS", format!("127.0.0.1:{}", broker.port)));
    env.push(("ZERODB_REDPANDA_TOPIC", "zerodb.test-depth".into()));
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    wait_status(&server, &key, "redpanda", "healthy", Duration::from_secs(10));
    server
        .call(
            "PUT",
            "/v1/collections/docs",
            &key,
            Some(&serde_json::json!({"dims": 2})),
        )
        .ok();
    db.wait_outbox_drained();
    wait_depth(&server, &key, 0);

    // The broker gone, each write's event waits, and the depth says how many.
    broker.stop();
    wait_status(&server, &key, "redpanda", "down", Duration::from_secs(5));
    for i in 0..3 {
        let body = serde_json::json!({"vectors": [{"id": format!("v{i}"), "values": [1.0, 0.0]}]});
        server
            .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
            .ok();
    }
    assert_eq!(db.outbox_rows(), 3);
    wait_depth(&server, &key, 3);

    broker.start();
    db.wait_outbox_drained();
    wait_depth(&server, &key, 0);
}

/// What `zerodb-edge health` did: exit code, stdout, stderr.
struct HealthRun {
    code: i32,
    out: String,
    err: String,
}

/// Runs `zerodb-edge health` against `db` with `args`.
fn health_command(db: &TestDb, args: &[&str]) -> HealthRun {
    let mut all = vec!["health", "--health-timeout-ms", "1000"];
    all.extend_from_slice(args);
    let out = db.cli(&all);
    HealthRun {
        code: out.status.code().expect("exit code"),
        out: String::from_utf8(out.stdout).unwrap(),
        err: String::from_utf8(out.stderr).unwrap(),
    }
}

/// One service row of the table.
#[derive(Debug)]
struct ServiceRow {
    status: String,
    latency_ms: Option<f64>,
    failures: u32,
    endpoint: String,
    error: String,
}

/// One route row of the table.
#[derive(Debug)]
struct RouteRow {
    route: String,
    available: String,
}

/// Parses the two tables `zerodb-edge health` prints, checking their
/// headers and the order of their rows.
fn parse_table(text: &str) -> (HashMap<String, ServiceRow>, HashMap<String, RouteRow>) {
    let (services, routes) = text.split_once("\n\n").unwrap_or_else(|| panic!("two tables: {text}"));
    let mut lines = services.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["SERVICE", "STATUS", "LATENCY", "FAILURES", "ENDPOINT", "LAST", "ERROR"],
        "{text}"
    );
    let mut by_name = HashMap::new();
    let mut order = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap().to_string();
        let status = words.next().unwrap().to_string();
        let latency_ms = match words.next().unwrap() {
            "-" => None,
            n => {
                assert_eq!(words.next(), Some("ms"), "{line}");
                Some(n.parse::<f64>().unwrap_or_else(|_| panic!("latency {n:?} in {line}")))
            }
        };
        let failures = words.next().unwrap().parse().unwrap();
        let endpoint = words.next().unwrap().to_string();
        let error = words.collect::<Vec<_>>().join(" ");
        order.push(name.clone());
        by_name.insert(
            name,
            ServiceRow {
                status,
                latency_ms,
                failures,
                endpoint,
                error,
            },
        );
    }
    assert_eq!(order, ["postgres", "qdrant", "minio", "redpanda"], "{text}");

    // Left-aligned columns: each starts where its header word does.
    let mut lines = routes.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["OPERATION", "ROUTE", "AVAILABLE", "FALLBACK"],
        "{text}"
    );
    let at = |word: &str| header.find(word).unwrap();
    let (route_at, available_at, fallback_at) = (at("ROUTE"), at("AVAILABLE"), at("FALLBACK"));
    let mut by_op = HashMap::new();
    let mut order = Vec::new();
    for line in lines {
        let operation = line[..route_at].trim().to_string();
        order.push(operation.clone());
        by_op.insert(
            operation,
            RouteRow {
                route: line[route_at..available_at].trim().to_string(),
                available: line[available_at..fallback_at].trim().to_string(),
            },
        );
    }
    assert_eq!(order, ["search", "read", "write", "events", "files"], "{text}");
    (by_name, by_op)
}

/// A loopback URL where nothing listens.
fn refused_url() -> String {
    format!("http://127.0.0.1:{}", crate::peers::free_port())
}

#[test]
fn health_command_prints_the_table_and_needs_only_postgres() {
    let db = TestDb::new("health_cli");
    let minio = HealthPeer::start(Kind::Minio);
    minio.set(Mode::Unhealthy);
    let (qdrant, brokers) = (refused_url(), format!("127.0.0.1:{}", crate::peers::free_port()));
    let minio_url = minio.url();
    let run = health_command(
        &db,
        &[
            "--qdrant-url",
            &qdrant,
            "--minio-url",
            &minio_url,
            "--minio-access-key",
            "k",
            "--minio-secret-key",
            "s",
            "--minio-bucket",
            "files",
            "--redpanda-brokers",
            &brokers,
        ],
    );
    let text = format!("{}{}", run.out, run.err);
    // Only Postgres is required: the others being down is no failure.
    assert_eq!(run.code, 0, "{text}");
    assert!(!run.err.contains("required service(s) down"), "{text}");
    let (services, routes) = parse_table(&run.out);

    let pg = &services["postgres"];
    assert_eq!(pg.status, "healthy", "{text}");
    assert!(pg.latency_ms.is_some_and(|ms| ms >= 0.0), "{text}");
    assert_eq!((pg.failures, pg.error.as_str()), (0, "-"), "{text}");
    assert_eq!(pg.endpoint, format!("127.0.0.1:{}/{}", port_of(&db.url), db.name));
    // Each probed once: one failure, and why.
    for name in ["qdrant", "minio", "redpanda"] {
        let row = &services[name];
        assert_eq!((row.status.as_str(), row.failures), ("down", 1), "{name}: {text}");
        assert!(row.latency_ms.is_some(), "{name}: {text}");
    }
    assert_eq!(services["qdrant"].endpoint, qdrant);
    assert!(services["qdrant"].error.contains("Connection refused"), "{text}");
    assert!(
        services["minio"]
            .error
            .starts_with("/minio/health/cluster answered 503"),
        "{text}"
    );
    assert!(
        services["redpanda"]
            .error
            .to_ascii_lowercase()
            .contains("connection refused"),
        "{text}"
    );

    for op in ["search", "read", "write"] {
        assert_eq!(routes[op].route, "postgres", "{text}");
        assert_eq!(routes[op].available, "yes", "{text}");
    }
    assert_eq!(
        (routes["events"].route.as_str(), routes["events"].available.as_str()),
        ("outbox", "yes"),
        "{text}"
    );
    assert_eq!(
        (routes["files"].route.as_str(), routes["files"].available.as_str()),
        ("minio", "no"),
        "{text}"
    );
}

#[test]
fn health_command_fails_when_postgres_is_unreachable() {
    let db = TestDb::new("health_cli_pg");
    let unreachable = with_port(&db.url, crate::peers::free_port());
    let run = health_command(&db, &["--database-url", &unreachable]);
    let text = format!("{}{}", run.out, run.err);
    assert_eq!(run.code, 1, "{text}");
    assert!(run.err.contains("required service(s) down: postgres"), "{text}");
    let (services, routes) = parse_table(&run.out);
    assert_eq!(services["postgres"].status, "down", "{text}");
    assert!(services["postgres"].error.contains("refused"), "{text}");
    for name in ["qdrant", "minio", "redpanda"] {
        assert_eq!(services[name].status, "disabled", "{text}");
        assert_eq!(services[name].latency_ms, None, "{text}");
    }
    for op in ["search", "read", "write", "events", "files"] {
        assert_eq!(routes[op].available, "no", "{op}: {text}");
    }
}

#[test]
fn health_command_fails_when_a_required_service_is_down() {
    let db = TestDb::new("health_cli_require");
    let qdrant = HealthPeer::start(Kind::Qdrant);
    let minio = HealthPeer::start(Kind::Minio);
    let (qdrant_url, minio_url) = (qdrant.url(), minio.url());
    let args = |require: &'static str| {
        let mut args = vec![
            "--qdrant-url",
            &qdrant_url,
            "--minio-url",
            &minio_url,
            "--minio-access-key",
            "k",
            "--minio-secret-key",
            "s",
            "--minio-bucket",
            "files",
        ];
        if !require.is_empty() {
            args.extend(["--require", require]);
        }
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = |require: &'static str| {
        let args = args(require);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        health_command(&db, &args)
    };

    // Both required, both healthy.
    let ok = run("qdrant,minio");
    let text = format!("{}{}", ok.out, ok.err);
    assert_eq!(ok.code, 0, "{text}");
    let (services, routes) = parse_table(&ok.out);
    assert_eq!(services["qdrant"].status, "healthy", "{text}");
    assert_eq!(services["minio"].status, "healthy", "{text}");
    assert_eq!(routes["search"].route, "postgres (preferred: qdrant)", "{text}");
    assert_eq!(routes["files"].available, "yes", "{text}");

    // Qdrant down: the run that requires it fails and names only it...
    qdrant.set(Mode::Unhealthy);
    let failed = run("qdrant,minio");
    let text = format!("{}{}", failed.out, failed.err);
    assert_eq!(failed.code, 1, "{text}");
    assert!(
        failed.err.lines().any(|l| l == "required service(s) down: qdrant"),
        "{text}"
    );
    assert_eq!(parse_table(&failed.out).0["qdrant"].status, "down", "{text}");
    // ...one that requires only MinIO does not, nor one that requires none.
    assert_eq!(run("minio").code, 0);
    assert_eq!(run("").code, 0);
    let unknown = run("kafka");
    assert_eq!(unknown.code, 1);
    assert!(unknown.err.contains("unknown service \"kafka\""), "{}", unknown.err);
}
