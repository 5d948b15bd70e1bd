//! The real PostgreSQL stopped while 31 clients load the edge: cached
//! searches keep answering `stale`, misses and writes get a 503 from the
//! breaker without touching the pool, nothing hangs, and every write that
//! was acknowledged is in the database afterwards.

use crate::harness::{assert_stored, clients, rng, OnDrop, Server, TestDb, CLIENTS};
use crate::peers::PrivatePg;
use rand::Rng;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zerodb_test_support::health::probe_env;

const DIMS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    CachedSearch,
    MissSearch,
    Write,
}

/// Client 0's account of the outage.
struct Window {
    /// From when the breaker was open and settled, to the restart.
    from: Instant,
    to: Instant,
    /// How long after the restart the breaker closed.
    closed: Duration,
    /// Whether the pool was asked for no connection in the window.
    untouched: bool,
}

/// Postgres probes made so far.
fn probes(server: &Server) -> f64 {
    server.metric("zerodb_health_probe_duration_seconds_count{service=\"postgres\"}")
}

fn probes_since(server: &Server, before: f64) -> f64 {
    probes(server) - before
}

#[derive(Debug)]
struct Sample {
    op: Op,
    start: Instant,
    end: Instant,
    status: u16,
    /// The error code of a failure.
    code: String,
    cache: Option<String>,
    retry_after: bool,
    /// For writes: the id and values sent.
    write: Option<(String, Vec<f32>)>,
}

fn random_vector(rng: &mut impl Rng) -> Vec<f32> {
    (0..DIMS).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// Whether the host routes to Postgres now, from `/metrics` (answered by the
/// host itself, so polling it adds no edge instance).
fn postgres_up(server: &Server) -> bool {
    let text = String::from_utf8(server.send("GET", "/metrics", None, None).body).unwrap();
    text.contains("zerodb_health_up{service=\"postgres\"} 1")
}

fn wait_postgres(server: &Server, up: bool, limit: Duration) -> Duration {
    let start = Instant::now();
    while postgres_up(server) != up {
        assert!(
            start.elapsed() < limit,
            "postgres not {} after {limit:?}",
            if up { "up" } else { "down" }
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

#[test]
fn postgres_stopped_under_load() {
    let pg = PrivatePg::start();
    let db = TestDb::existing("zerodb", &pg.url());
    let key = db.key("load");
    let mut env = probe_env();
    // Cached entries expire during the outage, so they are served stale.
    env.push(("ZERODB_CACHE_TTL_MS", "300".into()));
    // Every query not seen before is a miss (no whole-collection copy), and
    // one shard of one instance serves every client, so what the warm-up
    // cached is what the load reads.
    env.push(("ZERODB_HOT_COLLECTION_MAX_VECTORS", "0".into()));
    env.push(("ZERODB_EDGE_SHARDS", "1".into()));
    env.push(("ZERODB_EDGE_INSTANCES_PER_SHARD", "1".into()));
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    let mut r = rng(7);
    // Searches read `docs`; writes go to `log`, since a write to `docs`
    // would rightly drop the cached results the outage is meant to serve.
    for name in ["docs", "log"] {
        server
            .call(
                "PUT",
                &format!("/v1/collections/{name}"),
                &key,
                Some(&json!({"dims": DIMS})),
            )
            .ok();
    }
    let seed: Vec<_> = (0..300)
        .map(|i| json!({"id": format!("v{i}"), "values": random_vector(&mut r)}))
        .collect();
    server
        .call(
            "PUT",
            "/v1/collections/docs/vectors",
            &key,
            Some(&json!({"vectors": seed})),
        )
        .ok();
    let queries: Vec<Vec<f32>> = (0..20).map(|_| random_vector(&mut r)).collect();
    for q in &queries {
        server
            .call(
                "POST",
                "/v1/collections/docs/search",
                &key,
                Some(&json!({"vector": q, "k": 5})),
            )
            .ok();
    }

    // Client 0 stops PostgreSQL and starts it again; the others load the
    // edge until it is back.
    let stop = AtomicBool::new(false);
    let window: Mutex<Option<Window>> = Mutex::new(None);
    let samples: Vec<Sample> = clients(CLIENTS, |client| {
        if client == 0 {
            // The others stop when client 0 is done, also when one of its
            // assertions fails (they would otherwise load the edge forever).
            let _stop = OnDrop(|| stop.store(true, Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(700));
            pg.stop();
            let down_at = Instant::now();
            // Connections are refused from here (the probes made while the
            // database was shutting down, which take longer on a busy
            // machine, do not count): the breaker opens at the next probe,
            // or sooner by passive ejection.
            let probes = probes(&server);
            let opened = wait_postgres(&server, false, Duration::from_secs(5));
            let probes = probes_since(&server, probes);
            assert!(probes <= 2.0, "the breaker opened only after {probes} probes");
            // Requests that passed the breaker just before it opened are done.
            std::thread::sleep(Duration::from_millis(200));
            let acquisitions = server.metric("zerodb_db_pool_acquisitions_total");
            std::thread::sleep(Duration::from_secs(3));
            let untouched = server.metric("zerodb_db_pool_acquisitions_total") == acquisitions;
            let resume_at = Instant::now();
            pg.resume();
            let closed = wait_postgres(&server, true, Duration::from_secs(5));
            std::thread::sleep(Duration::from_secs(1));
            *window.lock().unwrap() = Some(Window {
                from: down_at + opened + Duration::from_millis(200),
                to: resume_at,
                closed,
                untouched,
            });
            return Vec::new();
        }
        let mut r = rng(8 + client as u64);
        let mut samples = Vec::new();
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let op = [Op::CachedSearch, Op::MissSearch, Op::Write][(n + client) % 3];
            let (path, method, body, write) = match op {
                Op::CachedSearch => (
                    "/v1/collections/docs/search",
                    "POST",
                    json!({"vector": queries[(n + client) % queries.len()], "k": 5}),
                    None,
                ),
                // Another k: misses fill a group of cached results of their
                // own, so they never push the warmed-up queries out.
                Op::MissSearch => (
                    "/v1/collections/docs/search",
                    "POST",
                    json!({"vector": random_vector(&mut r), "k": 6}),
                    None,
                ),
                Op::Write => {
                    let (id, values) = (format!("w{client}-{n}"), random_vector(&mut r));
                    let body = json!({"vectors": [{"id": id, "values": values, "metadata": {"n": n}}]});
                    ("/v1/collections/log/vectors", "PUT", body, Some((id, values)))
                }
            };
            let start = Instant::now();
            let reply = server.call(method, path, &key, Some(&body));
            samples.push(Sample {
                op,
                start,
                end: Instant::now(),
                status: reply.status,
                code: reply.error_code().to_string(),
                cache: reply.cache,
                retry_after: reply.retry_after.is_some(),
                write,
            });
            n += 1;
        }
        samples
    })
    .into_iter()
    .flatten()
    .collect();
    let Window {
        from,
        to,
        closed,
        untouched,
    } = window.into_inner().unwrap().expect("client 0 ran the outage");
    assert!(
        untouched,
        "a request asked the pool for a connection while the breaker was open"
    );
    let during: Vec<&Sample> = samples.iter().filter(|s| s.start >= from && s.end <= to).collect();
    let count = |op: Op| during.iter().filter(|s| s.op == op).count();
    assert!(
        count(Op::CachedSearch) >= 20 && count(Op::MissSearch) >= 20 && count(Op::Write) >= 20,
        "too little load during the outage: {} samples",
        during.len()
    );
    let mut stale = 0;
    for s in &during {
        match s.op {
            Op::CachedSearch => {
                assert_eq!(s.status, 200, "a cached search failed during the outage: {s:?}");
                assert!(matches!(s.cache.as_deref(), Some("stale" | "hit")), "{s:?}");
                stale += usize::from(s.cache.as_deref() == Some("stale"));
            }
            Op::MissSearch | Op::Write => {
                assert_eq!((s.status, s.code.as_str()), (503, "database_unavailable"), "{s:?}");
                assert!(s.retry_after, "503 without Retry-After: {s:?}");
            }
        }
    }
    assert!(stale >= 10, "only {stale} stale answers");
    let slowest_503 = during.iter().filter(|s| s.status == 503).map(|s| s.end - s.start).max();
    eprintln!(
        "during the outage: {} cached searches ({stale} stale), {} misses and {} writes answered 503 (slowest {slowest_503:?})",
        count(Op::CachedSearch),
        count(Op::MissSearch),
        count(Op::Write)
    );
    for s in samples.iter() {
        assert!(matches!(s.status, 200 | 503), "unexpected status: {s:?}");
        assert!(s.end - s.start < Duration::from_secs(10), "a request hung: {s:?}");
    }
    let recovered = samples
        .iter()
        .filter(|s| s.start > to + closed && s.op == Op::Write && s.status == 200)
        .count();
    assert!(recovered > 0, "no write succeeded after Postgres came back");

    // Every acknowledged write is in the database, with its values.
    let acknowledged: Vec<&(String, Vec<f32>)> = samples
        .iter()
        .filter(|s| s.status == 200)
        .filter_map(|s| s.write.as_ref())
        .collect();
    assert_stored(&db, "log", &acknowledged);
}

/// Every pooled connection busy is overload, not an outage: requests that
/// wait past `--db-pool-wait-ms` get 503 `overloaded` with `Retry-After`, but
/// the breaker stays closed (passive ejection would otherwise turn a burst of
/// slow queries into 30 s of refusals), and the next request is served.
#[test]
fn a_busy_pool_is_overload_not_an_outage() {
    let db = TestDb::new("busy_pool");
    let key = db.key("busy");
    let flags = [
        "--migrate",
        "--db-max-connections",
        "1",
        "--db-pool-wait-ms",
        "300",
        "--auth-cache-ms",
        "60000",
    ];
    // Probes 30 s apart: after the first, none runs during the test to
    // close a breaker that the burst might have opened.
    let server = Server::start_env(&db.url, &flags, &[("ZERODB_HEALTH_INTERVAL_MS", "30000".into())]);
    let probed = Instant::now();
    while zerodb_test_support::health::service(&server, &key, "postgres")["status"] != "healthy" {
        assert!(probed.elapsed() < Duration::from_secs(5), "no first probe");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
        .call("PUT", "/v1/collections/c", &key, Some(&json!({"dims": 4})))
        .ok();
    let first = json!({"vectors": [{"id": "a", "values": [1.0, 0.0, 0.0, 0.0]}]});
    server.call("PUT", "/v1/collections/c/vectors", &key, Some(&first)).ok();

    // The pool's one connection blocks behind a lock the test holds.
    let mut admin = db.client();
    let mut lock = admin.transaction().unwrap();
    lock.batch_execute("LOCK TABLE zerodb.collections IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let blocked = std::thread::scope(|scope| {
        let write = scope.spawn(|| {
            let body = json!({"vectors": [{"id": "b", "values": [0.0, 1.0, 0.0, 0.0]}]});
            server.call("PUT", "/v1/collections/c/vectors", &key, Some(&body))
        });
        std::thread::sleep(Duration::from_millis(300));
        for n in 0..8 {
            let reply = server.call("GET", &format!("/v1/collections/c/vectors/missing-{n}"), &key, None);
            assert_eq!((reply.status, reply.error_code()), (503, "overloaded"), "request {n}");
            assert!(reply.retry_after.is_some(), "request {n} has no Retry-After");
        }
        assert!(postgres_up(&server), "a busy pool opened the breaker");
        lock.rollback().unwrap();
        write.join().unwrap()
    });
    assert_eq!(blocked.status, 200, "the write that waited for the lock");
    let reply = server.call("GET", "/v1/collections/c/vectors/b", &key, None);
    assert_eq!(reply.status, 200, "served after the burst: {:?}", reply.json);
}

/// The health probe has a connection of its own: with the pool's only
/// connection stuck behind a lock for two seconds, probes every 100 ms keep
/// answering and PostgreSQL never leaves `healthy`.
#[test]
fn the_probe_has_a_connection_of_its_own() {
    let db = TestDb::new("probe_connection");
    let key = db.key("busy");
    let flags = ["--migrate", "--db-max-connections", "1", "--health-interval-ms", "100"];
    let server = Server::start_with(&db.url, &flags);
    server
        .call("PUT", "/v1/collections/c", &key, Some(&json!({"dims": 4})))
        .ok();
    let mut admin = db.client();
    let mut lock = admin.transaction().unwrap();
    lock.batch_execute("LOCK TABLE zerodb.collections IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    std::thread::scope(|scope| {
        let stuck = scope.spawn(|| {
            let body = json!({"vectors": [{"id": "b", "values": [0.0, 1.0, 0.0, 0.0]}]});
            server.call("PUT", "/v1/collections/c/vectors", &key, Some(&body))
        });
        std::thread::sleep(Duration::from_millis(200));
        let before = probes(&server);
        std::thread::sleep(Duration::from_secs(2));
        let during = probes_since(&server, before);
        assert!(during >= 5.0, "only {during} probes ran while the pool was stuck");
        assert!(postgres_up(&server), "a stuck pool made the probe fail");
        let down = server
            .metrics()
            .get("zerodb_health_transitions_total{service=\"postgres\",to=\"down\"}")
            .copied();
        assert_eq!(
            down.unwrap_or(0.0),
            0.0,
            "postgres went down while only its pool was busy"
        );
        lock.rollback().unwrap();
        assert_eq!(stuck.join().unwrap().status, 200);
    });
}
