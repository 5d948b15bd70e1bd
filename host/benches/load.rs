//! Load: many concurrent connections against `zerodb-edge` on 100 000 x 1536
//! vectors (the `zerodb_bench` database of the http bench), mixing searches
//! (80 % of them repeats of earlier queries), upserts and gets, for a fixed
//! time. Prints requests/s, p50/p99 per operation, errors, and the host's
//! peak memory.
//!
//! With `ZERODB_LOAD_FAULTS=1` it also breaks things while the load runs:
//! PostgreSQL is restarted once, the Kafka broker (`tansu`) is stopped and
//! started, and MinIO's health flaps (an `s3s-fs` behind the scripted health
//! peer; 5 % of requests then store files). It then checks that every
//! acknowledged write is in the database, the outbox drains, no request
//! outlived its deadline, and every error was a 503 with `Retry-After`.
//!
//! `scripts/pg start && cargo bench -p zerodb-edge --bench load`
//! (after `scripts/build` and one run of the http bench, which loads the
//! data; with faults, put `scripts/tools` on PATH: `PATH=$(scripts/tools):$PATH`).
//! `ZERODB_LOAD_CLIENTS` (200) and `ZERODB_LOAD_SECS` (60) size it.
//!
//! With `ZERODB_BENCH_SHORT=1` (as `scripts/test` runs it) the data set is
//! 5000 vectors in a database of the run's own; one client runs the same
//! mix for 3 s, then 32 clients start their instances in an untimed
//! second, then run it for 8 s; the bench fails on any error, on an
//! acknowledged upsert missing from the database, or unless the 32 clients
//! together get at least 0.8x the throughput of the one. On a 2-core
//! machine that serves both there is little to gain from more clients
//! (measured 1.56-1.78x), but requests that serialised behind a lock or a
//! stalled connection would lose much more than a fifth.

use rand::Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};
use zerodb_test_support::harness::{self, Server, TestDb};
use zerodb_test_support::peers::{self, HealthPeer, Kind, Mode};

const DIMS: usize = 1536;
const ROWS: u32 = 100_000;
/// Vectors in the short mode's collection.
const SHORT_ROWS: u32 = 5_000;
/// The least throughput 32 clients must get in the short mode, as a
/// fraction of one client's.
const SHORT_MIN_SCALING: f64 = 0.8;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn vector(rng: &mut impl Rng) -> Vec<f32> {
    (0..DIMS).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// The host's peak resident memory, from /proc.
/// Reads the searched collection (heap, TOAST and HNSW index) into the page
/// cache first: the figures are of a warm database. Straight after a build
/// has pushed it out, 200 clients on a cold disk time out at the deadline.
fn warm(db: &TestDb) {
    let started = Instant::now();
    let mut client = db.client();
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .unwrap();
    let blocks: i64 = client
        .query_one(
            "WITH t AS (SELECT ('zerodb_data.c' || id)::regclass AS r FROM zerodb.collections WHERE name = 'bench')
             SELECT sum(pg_prewarm(rel::regclass, 'read'))::int8 FROM (
                 SELECT r AS rel FROM t
                 UNION ALL SELECT indexrelid FROM pg_index, t WHERE indrelid = r
                 UNION ALL SELECT reltoastrelid FROM pg_class, t WHERE oid = r AND reltoastrelid <> 0
             ) rels",
            &[],
        )
        .unwrap()
        .get(0);
    println!(
        "warm-up: read {} MiB in {:.1} s",
        blocks * 8 / 1024,
        started.elapsed().as_secs_f64()
    );
}

/// One answer: operation, status, time taken, `Retry-After` present, and
/// for an acknowledged upsert the id and values written.
type Sample = (&'static str, u16, Duration, bool, Option<(String, Vec<f32>)>);

fn pg(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg");
    let ok = Command::new(script).arg(action).output().map(|o| o.status.success());
    assert_eq!(ok.ok(), Some(true), "scripts/pg {action} failed");
}

/// The backing services of the fault run, and the server's settings for them.
struct Faults {
    broker: peers::Process,
    _s3: peers::Process,
    minio: HealthPeer,
}

impl Faults {
    fn start() -> Faults {
        let s3 = peers::s3s_fs("files");
        let minio = HealthPeer::start_forwarding(Kind::Minio, Some(s3.port));
        Faults {
            broker: peers::tansu(),
            _s3: s3,
            minio,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ZERODB_REDPANDA_BROKERS", format!("127.0.0.1:{}", self.broker.port)),
            ("ZERODB_MINIO_URL", self.minio.url()),
            ("ZERODB_MINIO_ACCESS_KEY", peers::S3_ACCESS_KEY.into()),
            ("ZERODB_MINIO_SECRET_KEY", peers::S3_SECRET_KEY.into()),
            ("ZERODB_MINIO_BUCKET", "files".into()),
            ("ZERODB_HEALTH_INTERVAL_MS", "500".into()),
            ("ZERODB_HEALTH_DOWN_INTERVAL_MS", "500".into()),
            ("ZERODB_HEALTH_TIMEOUT_MS", "1000".into()),
        ]
    }

    /// Runs the faults over `secs`: Postgres restarted once, the broker
    /// stopped and started twice, MinIO's health flapping; all back at the end.
    fn inject(&mut self, secs: u64) {
        let step = Duration::from_secs(secs) / 10;
        std::thread::sleep(step);
        for round in 0..8 {
            match round {
                1 => {
                    eprintln!("fault: stopping PostgreSQL");
                    pg("stop");
                }
                2 => {
                    pg("start");
                    eprintln!("fault: PostgreSQL is back");
                }
                3 | 5 => {
                    eprintln!("fault: stopping the Kafka broker");
                    self.broker.stop();
                }
                4 | 6 => self.broker.start(),
                _ => {}
            }
            self.minio
                .set(if round % 2 == 0 { Mode::Unhealthy } else { Mode::Healthy });
            std::thread::sleep(step);
        }
        self.minio.set(Mode::Healthy);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let short = harness::bench_short();
    let (clients, secs) = if short {
        (32, 8)
    } else {
        (env("ZERODB_LOAD_CLIENTS", 200) as usize, env("ZERODB_LOAD_SECS", 60))
    };
    let admin = std::env::var("ZERODB_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".into());
    let (base, _) = admin.rsplit_once('/').unwrap();
    let (db, rows) = if short {
        (TestDb::new("load_short"), SHORT_ROWS)
    } else {
        (TestDb::existing("zerodb_bench", &format!("{base}/zerodb_bench")), ROWS)
    };
    let key = db.key("bench");
    if short {
        harness::bulk_collection(&db, &key, "bench", rows as i64, DIMS);
    }
    warm(&db);
    let faulty = !short && env("ZERODB_LOAD_FAULTS", 0) == 1;
    let mut faults = faulty.then(Faults::start);
    let services = faults.as_ref().map(Faults::env).unwrap_or_default();
    let server = Server::start_env(&db.url, &["--db-max-connections", "32", "--migrate"], &services);
    let count = server.call("GET", "/v1/collections/bench", &key, None).ok()["count"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(count, rows as u64, "run the http bench once first: it loads the data");
    server
        .call("PUT", "/v1/collections/load", &key, Some(&json!({"dims": DIMS})))
        .ok();
    let mut rng = harness::rng(3);
    let repeats: Vec<Vec<u8>> = (0..64)
        .map(|_| json!({"vector": vector(&mut rng), "k": 10}).to_string().into_bytes())
        .collect();
    let mix = Mix {
        server: &server,
        key: &key,
        repeats: &repeats,
        rows,
        faulty,
    };
    let alone = short.then(|| {
        let (samples, wall) = mix.run(1, 3, None);
        samples.len() as f64 / wall.as_secs_f64()
    });
    if short {
        // The ratio is of steady states: the instances that many clients
        // start (each loading its own hot copy) are started before timing.
        mix.run(clients, 1, None);
    }
    let (samples, wall) = mix.run(clients, secs, faults.as_mut());
    let peak = server.memory_bytes("VmHWM") / (1 << 20) as f64;

    println!(
        "load: {clients} connections for {:.0} s on {rows} x {DIMS} (HNSW):",
        wall.as_secs_f64()
    );
    let mut by_op: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in &samples {
        by_op.entry(s.0).or_default().push(s);
    }
    let mut errors = 0;
    for (op, list) in &by_op {
        let mut lat: Vec<Duration> = list.iter().map(|s| s.2).collect();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1].as_secs_f64() * 1e3;
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for s in list.iter().filter(|s| !(200..300).contains(&s.1)) {
            *statuses.entry(s.1).or_default() += 1;
        }
        let failed: usize = statuses.values().sum();
        errors += failed;
        if !statuses.is_empty() {
            println!("  {op:7} failures by status: {statuses:?}");
        }
        if faulty {
            for s in list {
                let ok = (200..300).contains(&s.1) || (s.1 == 503 && s.3);
                assert!(ok, "{op}: an error other than 503 with Retry-After: {}", s.1);
            }
        }
        println!(
            "  {op:7} {:8.0} req/s   p50 {:8.3} ms   p99 {:8.3} ms   max {:6.2} s   errors {failed}   ({} requests)",
            list.len() as f64 / wall.as_secs_f64(),
            pct(0.5),
            pct(0.99),
            pct(1.0) / 1e3,
            list.len()
        );
    }
    println!(
        "  total   {:8.0} req/s, errors {errors}, host peak memory {peak:.0} MiB",
        samples.len() as f64 / wall.as_secs_f64()
    );
    let slowest = samples.iter().map(|s| s.2).max().unwrap_or_default();
    println!("  slowest request {:.2} s", slowest.as_secs_f64());
    assert!(
        slowest < Duration::from_secs(30),
        "a request outlived the 30 s deadline"
    );
    if faulty {
        check_after_faults(&db, &samples);
    } else {
        assert_eq!(errors, 0, "requests failed under load");
    }
    if let Some(alone) = alone {
        let acknowledged: Vec<&(String, Vec<f32>)> = samples.iter().filter_map(|s| s.4.as_ref()).collect();
        harness::assert_stored(&db, "load", &acknowledged);
        let together = samples.len() as f64 / wall.as_secs_f64();
        println!(
            "  one client alone {alone:.0} req/s; {clients} together {together:.0} req/s ({:.2}x)",
            together / alone
        );
        assert!(
            together >= SHORT_MIN_SCALING * alone,
            "{clients} clients got {together:.0} req/s against one alone's {alone:.0}"
        );
    }
    server.call("DELETE", "/v1/collections/load", &key, None);
}

/// The load's request mix against one server.
struct Mix<'a> {
    server: &'a Server,
    key: &'a str,
    /// Search bodies that 80 % of searches repeat.
    repeats: &'a [Vec<u8>],
    /// Vectors in the searched collection (`v1` …).
    rows: u32,
    /// Whether 5 % of requests store files.
    faulty: bool,
}

impl Mix<'_> {
    /// `clients` connections for `secs`, while `faults` (if any) are
    /// injected; every answer, and the wall time taken.
    fn run(&self, clients: usize, secs: u64, faults: Option<&mut Faults>) -> (Vec<Sample>, Duration) {
        let Mix {
            server,
            key,
            repeats,
            rows,
            faulty,
        } = *self;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let samples = std::thread::scope(|scope| {
            if let Some(faults) = faults {
                scope.spawn(move || faults.inject(secs));
            }
            let workers: Vec<_> = (0..clients)
                .map(|c| {
                    scope.spawn(move || {
                        let mut rng = harness::rng(1000 + c as u64);
                        let mut out = Vec::new();
                        let mut n = 0u64;
                        while Instant::now() < deadline {
                            let roll = rng.gen_range(0..100);
                            let mut written = None;
                            let (op, reply) = if faulty && roll < 5 {
                                let path = format!("/v1/files/c{c}/{n}.bin");
                                ("file", server.send("PUT", &path, Some(key), Some(vec![7u8; 1024])))
                            } else if roll < 70 {
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
                                let (id, values) = (format!("c{c}-{clients}-{n}"), vector(&mut rng));
                                let body = json!({"vectors": [{"id": id, "values": values}]});
                                written = Some((id, values));
                                (
                                    "upsert",
                                    server.call("PUT", "/v1/collections/load/vectors", key, Some(&body)),
                                )
                            } else {
                                let id = rng.gen_range(1..=rows);
                                (
                                    "get",
                                    server.call("GET", &format!("/v1/collections/bench/vectors/v{id}"), key, None),
                                )
                            };
                            let acknowledged = (200..300).contains(&reply.status);
                            let retry_after = reply.retry_after.is_some();
                            out.push((
                                op,
                                reply.status,
                                reply.elapsed,
                                retry_after,
                                written.filter(|_| acknowledged),
                            ));
                            n += 1;
                        }
                        out
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        (samples, started.elapsed())
    }
}

/// Every acknowledged write is stored with its values, and the outbox drains.
fn check_after_faults(db: &TestDb, samples: &[Sample]) {
    let acknowledged: Vec<&(String, Vec<f32>)> = samples.iter().filter_map(|s| s.4.as_ref()).collect();
    harness::assert_stored(db, "load", &acknowledged);
    let mut client = db.client();
    let start = Instant::now();
    loop {
        let waiting: i64 = client
            .query_one("SELECT count(*) FROM zerodb.outbox", &[])
            .unwrap()
            .get(0);
        if waiting == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{waiting} events still in the outbox"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "  after the faults: {} acknowledged writes all stored; outbox drained in {:.1} s",
        acknowledged.len(),
        start.elapsed().as_secs_f64()
    );
}
