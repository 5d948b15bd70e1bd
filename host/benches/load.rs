//! Load: many concurrent connections against `zerodb-edge` on 100 000 x 1536
//! vectors (the `zerodb_bench` database of the http bench), mixing searches
//! (80 % of them repeats of earlier queries), upserts and gets, for a fixed
//! time. Prints requests/s, p50/p99 per operation, errors, and the host's
//! peak memory.
//!
//! `scripts/pg start && cargo bench -p zerodb-edge --bench load`
//! (after `scripts/build` and one run of the http bench, which loads the
//! data). `ZERODB_LOAD_CLIENTS` (200) and `ZERODB_LOAD_SECS` (60) size it.

#[allow(dead_code)]
#[path = "../../tests/all/harness.rs"]
mod harness;

use harness::{Server, TestDb};
use rand::Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DIMS: usize = 1536;
const ROWS: u32 = 100_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn vector(rng: &mut impl Rng) -> Vec<f32> {
    (0..DIMS).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// The host's peak resident memory, from /proc.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let clients = env("ZERODB_LOAD_CLIENTS", 200) as usize;
    let secs = env("ZERODB_LOAD_SECS", 60);
    let admin = std::env::var("ZERODB_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".into());
    let (base, _) = admin.rsplit_once('/').unwrap();
    let db = TestDb::existing("zerodb_bench", &format!("{base}/zerodb_bench"));
    let key = db.key("bench");
    let server = Server::start_with(&db.url, &["--db-max-connections", "32"]);
    let count = server.call("GET", "/v1/collections/bench", &key, None).ok()["count"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(count, ROWS as u64, "run the http bench once first: it loads the data");
    server.call("PUT", "/v1/collections/load", &key, Some(&json!({"dims": DIMS})));
    let mut rng = harness::rng(3);
    let repeats: Vec<Vec<u8>> = (0..64)
        .map(|_| json!({"vector": vector(&mut rng), "k": 10}).to_string().into_bytes())
        .collect();

    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let samples: Vec<(&str, u16, Duration)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let (server, key, repeats) = (&server, &key, &repeats);
                scope.spawn(move || {
                    let mut rng = harness::rng(1000 + c as u64);
                    let mut out = Vec::new();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let roll = rng.gen_range(0..100);
                        let (op, reply) = if roll < 70 {
                            let body = if rng.gen_range(0..100) < 80 {
                                repeats[rng.gen_range(0..repeats.len())].clone()
                            } else {
                                json!({"vector": vector(&mut rng), "k": 10}).to_string().into_bytes()
                            };
                            (
                                "search",
                                server.send("POST", "/v1/collections/bench/search", Some(key), Some(body)),
                            )
                        } else if roll < 85 {
                            let id = format!("c{c}-{n}");
                            let body = json!({"vectors": [{"id": id, "values": vector(&mut rng)}]});
                            (
                                "upsert",
                                server.call("PUT", "/v1/collections/load/vectors", key, Some(&body)),
                            )
                        } else {
                            let id = rng.gen_range(1..=ROWS);
                            (
                                "get",
                                server.call("GET", &format!("/v1/collections/bench/vectors/v{id}"), key, None),
                            )
                        };
                        out.push((op, reply.status, reply.elapsed));
                        n += 1;
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let wall = started.elapsed();
    let peak = peak_rss_mb(server.pid());

    println!(
        "load: {clients} connections for {:.0} s on {ROWS} x {DIMS} (HNSW):",
        wall.as_secs_f64()
    );
    let mut by_op: BTreeMap<&str, Vec<&(&str, u16, Duration)>> = BTreeMap::new();
    for s in &samples {
        by_op.entry(s.0).or_default().push(s);
    }
    let mut errors = 0;
    for (op, list) in &by_op {
        let mut lat: Vec<Duration> = list.iter().map(|s| s.2).collect();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1].as_secs_f64() * 1e3;
        let failed = list.iter().filter(|s| !(200..300).contains(&s.1)).count();
        errors += failed;
        println!(
            "  {op:7} {:8.0} req/s   p50 {:8.3} ms   p99 {:8.3} ms   errors {failed}   ({} requests)",
            list.len() as f64 / wall.as_secs_f64(),
            pct(0.5),
            pct(0.99),
            list.len()
        );
    }
    println!(
        "  total   {:8.0} req/s, errors {errors}, host peak memory {peak:.0} MiB",
        samples.len() as f64 / wall.as_secs_f64()
    );
    server.call("DELETE", "/v1/collections/load", &key, None);
    assert_eq!(errors, 0, "requests failed under load");
}
