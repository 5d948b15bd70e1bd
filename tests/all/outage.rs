//! The real PostgreSQL stopped while a load runs: cached searches keep
//! answering `stale`, misses and writes get a fast 503, nothing hangs, and
//! every write that was acknowledged is in the database afterwards.

use crate::harness::{assert_stored, rng, Server, StopOnDrop, TestDb};
use crate::health::probe_env;
use crate::peers::PrivatePg;
use rand::Rng;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DIMS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    CachedSearch,
    MissSearch,
    Write,
}

#[derive(Debug)]
struct Sample {
    op: Op,
    start: Instant,
    end: Instant,
    status: u16,
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
    // one shard with one client keeps to one instance, so what the warm-up
    // cached is what the load reads.
    env.push(("ZERODB_HOT_COLLECTION_MAX_VECTORS", "0".into()));
    env.push(("ZERODB_EDGE_SHARDS", "1".into()));
    let server = Arc::new(Server::start_env(&db.url, &["--migrate"], &env));
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

    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_unwind = StopOnDrop(stop.clone());
    let load = {
        let (server, key, samples, stop) = (server.clone(), key.clone(), samples.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut r = rng(8);
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let op = [Op::CachedSearch, Op::MissSearch, Op::Write][i % 3];
                let (path, method, body, write) = match op {
                    Op::CachedSearch => (
                        "/v1/collections/docs/search",
                        "POST",
                        json!({"vector": queries[i / 3 % queries.len()], "k": 5}),
                        None,
                    ),
                    Op::MissSearch => (
                        "/v1/collections/docs/search",
                        "POST",
                        json!({"vector": random_vector(&mut r), "k": 5}),
                        None,
                    ),
                    Op::Write => {
                        let (id, values) = (format!("w{i}"), random_vector(&mut r));
                        let body = json!({"vectors": [{"id": id, "values": values, "metadata": {"i": i}}]});
                        ("/v1/collections/log/vectors", "PUT", body, Some((id, values)))
                    }
                };
                let start = Instant::now();
                let reply = server.call(method, path, &key, Some(&body));
                samples.lock().unwrap().push(Sample {
                    op,
                    start,
                    end: Instant::now(),
                    status: reply.status,
                    cache: reply.cache,
                    retry_after: reply.retry_after.is_some(),
                    write,
                });
                i += 1;
            }
        })
    };

    std::thread::sleep(Duration::from_millis(700));
    pg.stop();
    let down_at = Instant::now();
    // Connections are refused: the breaker opens after one probe.
    let opened = wait_postgres(&server, false, Duration::from_millis(200 + 300 + 150));
    std::thread::sleep(Duration::from_secs(3));
    let resume_at = Instant::now();
    pg.resume();
    let closed = wait_postgres(&server, true, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    eprintln!("breaker opened {opened:?} after the stop, closed {closed:?} after the restart");

    let samples = samples.lock().unwrap();
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= down_at + opened && s.end <= resume_at)
        .collect();
    let count = |op: Op| during.iter().filter(|s| s.op == op).count();
    assert!(
        count(Op::CachedSearch) >= 20 && count(Op::MissSearch) >= 20 && count(Op::Write) >= 20,
        "too little load during the outage: {} samples",
        during.len()
    );
    let mut stale = 0;
    for s in &during {
        let took = s.end - s.start;
        match s.op {
            Op::CachedSearch => {
                assert_eq!(s.status, 200, "a cached search failed during the outage: {s:?}");
                assert!(matches!(s.cache.as_deref(), Some("stale" | "hit")), "{s:?}");
                stale += usize::from(s.cache.as_deref() == Some("stale"));
            }
            Op::MissSearch | Op::Write => {
                assert_eq!(s.status, 503, "{s:?}");
                assert!(s.retry_after, "503 without Retry-After: {s:?}");
                assert!(took < Duration::from_secs(1), "a 503 took {took:?}");
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
        assert!(s.end - s.start < Duration::from_secs(3), "a request hung: {s:?}");
    }
    let recovered = samples
        .iter()
        .filter(|s| s.start > resume_at + closed && s.op == Op::Write && s.status == 200)
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
    while crate::health::service(&server, &key, "postgres")["status"] != "healthy" {
        assert!(probed.elapsed() < Duration::from_secs(5), "no first probe");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.call("PUT", "/v1/collections/c", &key, Some(&json!({"dims": 4})));
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
