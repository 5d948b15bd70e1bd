//! A coherent edge cache: after a write is acknowledged, no later read
//! misses it, on any warm instance of the host that took it and on any other
//! host over the same database.

use crate::harness::{clients, rng, OnDrop, Reply, Server, TestDb, CLIENTS};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Real embeddings' size (the API's default).
const DIMS: usize = 1536;

/// The query every reader sends: a fixed vector of `DIMS` dimensions.
static QUERY: std::sync::LazyLock<Vec<f32>> =
    std::sync::LazyLock::new(|| (0..DIMS).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect());

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    crate::harness::cosine(a, b)
}

/// What the database holds: the test's own record of every acknowledged
/// write to the collection `docs`, and what a read must therefore show.
#[derive(Clone, Default)]
struct Model {
    /// Ids carry the collection's generation, so an id of a dropped
    /// incarnation never matches one of the current.
    generation: u32,
    vectors: BTreeMap<String, Vec<f32>>,
    /// The version the last write to `docs` was acknowledged with.
    version: u64,
    /// The id the last write touched, read back by id.
    focus: String,
    /// The last memory record written and its embedding.
    memory: Option<(String, Vec<f32>)>,
    /// The top cosine score of the query over `vectors`, computed once
    /// before the readers start ([`storm`]).
    best: f64,
}

impl Model {
    fn best_score(&self) -> f64 {
        self.vectors
            .values()
            .map(|v| cosine(&QUERY, v))
            .fold(f64::MIN, f64::max)
    }

    /// Why a search answer misses an acknowledged write, if it does.
    fn check_search(&self, reply: &Reply) -> Result<(), String> {
        if reply.status != 200 {
            return Err(format!("search answered {}: {}", reply.status, reply.json));
        }
        let version = reply.json["version"].as_u64().unwrap_or(0);
        if version < self.version {
            return Err(format!("version {version} < acknowledged {}", self.version));
        }
        let hits = reply.json["hits"].as_array().cloned().unwrap_or_default();
        for hit in &hits {
            let id = hit["id"].as_str().unwrap_or_default();
            if !self.vectors.contains_key(id) {
                return Err(format!("hit {id} is not in the collection"));
            }
        }
        let top = hits.first().and_then(|h| h["score"].as_f64()).unwrap_or(f64::NAN);
        if (top - self.best).abs() > 1e-4 {
            return Err(format!("top score {top}, expected {}", self.best));
        }
        Ok(())
    }

    fn check_get(&self, reply: &Reply) -> Result<(), String> {
        match self.vectors.get(&self.focus) {
            Some(values) if reply.status == 200 => {
                let got: Vec<f32> = serde_json::from_value(reply.json["values"].clone()).unwrap_or_default();
                (got == *values)
                    .then_some(())
                    .ok_or_else(|| format!("{} read {got:?}, written {values:?}", self.focus))
            }
            None if reply.status == 404 => Ok(()),
            _ => Err(format!("get {} answered {}: {}", self.focus, reply.status, reply.json)),
        }
    }

    fn check_describe(&self, reply: &Reply) -> Result<(), String> {
        let (count, version) = (reply.json["count"].as_u64(), reply.json["version"].as_u64());
        if count != Some(self.vectors.len() as u64) || version < Some(self.version) {
            return Err(format!(
                "describe says count {count:?} version {version:?}; acknowledged {} vectors at {}",
                self.vectors.len(),
                self.version
            ));
        }
        Ok(())
    }

    fn check_memory(&self, reply: &Reply) -> Result<(), String> {
        let Some((id, _)) = &self.memory else { return Ok(()) };
        let found = reply.json["hits"]
            .as_array()
            .is_some_and(|hits| hits.iter().any(|h| h["id"] == json!(id)));
        found
            .then_some(())
            .ok_or_else(|| format!("memory search misses {id}: {}", reply.json))
    }
}

/// A check of one answer against the model.
type Check = fn(&Model, &Reply) -> Result<(), String>;

/// What the readers saw after one write.
#[derive(Default)]
struct Seen {
    reads: usize,
    hits: usize,
    stale: Vec<String>,
    instances: HashSet<String>,
}

/// `CLIENTS` threads at once, each reading `rounds` times everything the
/// model can check; every answer is checked against `model`.
fn storm(server: &Server, key: &str, model: &Model, rounds: usize) -> Seen {
    let model = &Model {
        best: model.best_score(),
        ..model.clone()
    };
    let seen = Mutex::new(Seen::default());
    clients(CLIENTS, |_| {
        for _ in 0..rounds {
            let search = json!({"vector": &*QUERY, "k": 5});
            let filtered = json!({"vector": &*QUERY, "k": 5, "filter": {"tag": "t"}});
            let reads: [(Reply, Check); 4] = [
                (
                    server.call("POST", "/v1/collections/docs/search", key, Some(&search)),
                    Model::check_search,
                ),
                (
                    server.call("POST", "/v1/collections/docs/search", key, Some(&filtered)),
                    Model::check_search,
                ),
                (
                    server.call(
                        "GET",
                        &format!("/v1/collections/docs/vectors/{}", model.focus),
                        key,
                        None,
                    ),
                    Model::check_get,
                ),
                (
                    server.call("GET", "/v1/collections/docs", key, None),
                    Model::check_describe,
                ),
            ];
            let memory = model.memory.as_ref().map(|(_, embedding)| {
                server.call(
                    "POST",
                    "/v1/memory/search",
                    key,
                    Some(&json!({"embedding": embedding, "k": 3})),
                )
            });
            let mut seen = seen.lock().unwrap();
            for (reply, check) in &reads {
                seen.reads += 1;
                if reply.cache.as_deref() == Some("hit") {
                    seen.hits += 1;
                }
                seen.instances.extend(reply.instance.clone());
                if let Err(why) = check(model, reply) {
                    seen.stale.push(why);
                }
            }
            if let Some(reply) = memory {
                seen.reads += 1;
                if let Err(why) = model.check_memory(&reply) {
                    seen.stale.push(why);
                }
            }
        }
    });
    seen.into_inner().unwrap()
}

fn random_vector(rng: &mut impl Rng) -> Vec<f32> {
    (0..DIMS).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// Upserts `records` into `docs` and records them in the model.
fn upsert(server: &Server, key: &str, model: &mut Model, records: Vec<(String, Vec<f32>)>) {
    let body: Vec<Value> = records
        .iter()
        .map(|(id, values)| json!({"id": id, "values": values, "metadata": {"tag": "t"}}))
        .collect();
    let reply = server
        .call(
            "PUT",
            "/v1/collections/docs/vectors",
            key,
            Some(&json!({ "vectors": body })),
        )
        .ok();
    model.version = reply["version"].as_u64().unwrap();
    model.focus = records[0].0.clone();
    model.vectors.extend(records);
}

/// Drops `docs` (if any) and creates it again with 100 vectors.
fn recreate(server: &Server, key: &str, model: &mut Model, rng: &mut impl Rng) {
    if model.generation > 0 {
        server.call("DELETE", "/v1/collections/docs", key, None).ok();
    }
    model.generation += 1;
    model.vectors.clear();
    server
        .call(
            "PUT",
            "/v1/collections/docs",
            key,
            Some(&json!({"dims": DIMS, "metric": "cosine", "index": "none"})),
        )
        .ok();
    let generation = model.generation;
    let records = (0..100)
        .map(|i| (format!("g{generation}-{i}"), random_vector(rng)))
        .collect();
    upsert(server, key, model, records);
}

/// Fifty acknowledged writes of every kind to a collection of 1536-dim
/// vectors small enough to be hot, each followed by 32 concurrent readers
/// over the warm instances of one host: none may miss the write, whether
/// the answer comes from a hot copy, a vector cached by id, the origin or a
/// key resolution.
#[test]
fn every_read_after_an_acknowledged_write_sees_it_on_every_instance() {
    writes_under_concurrent_reads("coherence_hot", &[]);
}

/// The same without hot copies: the readers meet cached search results and
/// vectors by id.
#[test]
fn every_read_after_an_acknowledged_write_sees_it_without_hot_copies() {
    writes_under_concurrent_reads("coherence_cold", &["--hot-collection-max-vectors", "0"]);
}

fn writes_under_concurrent_reads(tag: &str, flags: &[&str]) {
    let db = TestDb::new(tag);
    let key = db.key("coherence");
    // One shard of eight instances: the 32 readers share one queue, served
    // by eight caches at once.
    let mut args = vec!["--migrate", "--edge-shards", "1", "--edge-instances-per-shard", "8"];
    args.extend(flags);
    let server = Server::start_with(&db.url, &args);
    let mut rng = rng(11);
    let mut model = Model::default();
    recreate(&server, &key, &mut model, &mut rng);
    let warm = storm(&server, &key, &model, 3);
    assert!(warm.stale.is_empty(), "{:?}", warm.stale);

    let (mut total, mut kinds) = (Seen::default(), BTreeMap::<&str, usize>::new());
    let mut revocation_lags = Vec::new();
    for write in 0..50 {
        let generation = model.generation;
        let kind = match write % 10 {
            0 | 3 | 6 => {
                // A vector equal to the query: it must top every search.
                upsert(
                    &server,
                    &key,
                    &mut model,
                    vec![(format!("g{generation}-q{write}"), QUERY.clone())],
                );
                "upsert"
            }
            1 | 7 => {
                let id = model.vectors.keys().nth(write).unwrap().clone();
                upsert(&server, &key, &mut model, vec![(id, random_vector(&mut rng))]);
                "update"
            }
            2 | 8 => {
                let top = model
                    .vectors
                    .iter()
                    .max_by(|a, b| cosine(&QUERY, a.1).total_cmp(&cosine(&QUERY, b.1)))
                    .map(|(id, _)| id.clone())
                    .unwrap();
                let reply = server
                    .call("DELETE", &format!("/v1/collections/docs/vectors/{top}"), &key, None)
                    .ok();
                model.version = reply["version"].as_u64().unwrap();
                model.vectors.remove(&top);
                model.focus = top;
                "delete"
            }
            4 => {
                let records = (0..20)
                    .map(|i| (format!("g{generation}-b{write}-{i}"), random_vector(&mut rng)))
                    .collect();
                upsert(&server, &key, &mut model, records);
                "batch"
            }
            5 => {
                let embedding = random_vector(&mut rng);
                let record = json!({"session_id": "s", "role": "user", "content": format!("memory {write}"),
                    "embedding": embedding});
                let reply = server.call("POST", "/v1/memory", &key, Some(&record)).ok();
                model.memory = Some((reply["id"].as_str().unwrap().to_string(), embedding));
                "memory"
            }
            _ if write % 20 == 9 => {
                recreate(&server, &key, &mut model, &mut rng);
                "drop and re-create"
            }
            _ => {
                // A key every instance has resolved, then revoked.
                let doomed = db.key("coherence");
                let before = storm_with_key(&server, &doomed);
                assert_eq!(before, 0, "a live key is refused");
                // `keys revoke` runs in a process of its own: the serving
                // host learns of it from the feed, within the feed's lag.
                // Every read after the notice arrived must be refused.
                let notices = feed(&server, &key).notifications;
                let out = db.cli(&["keys", "revoke", &doomed]);
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                let revoked = Instant::now();
                while feed(&server, &key).notifications == notices {
                    assert!(
                        revoked.elapsed() < Duration::from_secs(5),
                        "the revocation never arrived"
                    );
                }
                revocation_lags.push(revoked.elapsed());
                let accepted = CLIENTS * 4 - storm_with_key(&server, &doomed);
                assert_eq!(accepted, 0, "a revoked key was still accepted {accepted} times");
                "key revoke"
            }
        };
        *kinds.entry(kind).or_default() += 1;
        let seen = storm(&server, &key, &model, 2);
        assert!(
            seen.stale.is_empty(),
            "after write {write} ({kind}), {} of {} reads missed it: {:?}",
            seen.stale.len(),
            seen.reads,
            &seen.stale[..seen.stale.len().min(5)]
        );
        total.reads += seen.reads;
        total.hits += seen.hits;
        total.instances.extend(seen.instances);
    }
    eprintln!(
        "coherence ({tag}, {DIMS} dims): 50 writes {kinds:?}; {} reads, {} cache hits, {} warm instances, 0 stale; \
         revocations arrived within {revocation_lags:?} of `keys revoke` returning",
        total.reads,
        total.hits,
        total.instances.len()
    );
    assert!(
        total.instances.len() >= 8,
        "only {} instances served",
        total.instances.len()
    );
    // The checks must have met cached answers, not only the origin's.
    assert!(
        total.hits * 4 >= total.reads,
        "{} hits of {} reads",
        total.hits,
        total.reads
    );
}

/// `CLIENTS` readers with `key`, four reads each; returns how many were refused (401).
fn storm_with_key(server: &Server, key: &str) -> usize {
    clients(CLIENTS, |_| {
        (0..4)
            .filter(|_| server.call("GET", "/v1/collections/docs", key, None).status == 401)
            .count()
    })
    .into_iter()
    .sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The state of a host's coherence feed, from `/v1/health`.
struct Feed {
    state: String,
    subscriptions: u64,
    notifications: u64,
}

fn feed(server: &Server, key: &str) -> Feed {
    let health = server.call("GET", "/v1/health", key, None).ok();
    let feed = &health["coherence"];
    Feed {
        state: feed["feed"].as_str().unwrap_or_default().to_string(),
        subscriptions: feed["subscriptions"].as_u64().unwrap_or(0),
        notifications: feed["notifications"].as_u64().unwrap_or(0),
    }
}

/// Two hosts over one database: every write through A reaches B's cache
/// within the feed's lag (measured), a read naming the write's version is
/// never stale, and while B's feed is cut again and again no read is stale
/// and B resubscribes by itself.
#[test]
fn a_second_host_learns_every_write_from_the_feed() {
    let db = TestDb::new("coherence_hosts");
    let key = db.key("coherence");
    let a = Server::start(&db.url);
    let b = Server::start_with(&db.url, &["--edge-shards", "1"]);
    a.call(
        "PUT",
        "/v1/collections/docs",
        &key,
        Some(&json!({"dims": DIMS, "metric": "cosine", "index": "hnsw"})),
    )
    .ok();
    let mut rng = rng(12);
    let seed: Vec<Value> = (0..100)
        .map(|i| json!({"id": format!("v{i}"), "values": random_vector(&mut rng)}))
        .collect();
    a.call(
        "PUT",
        "/v1/collections/docs/vectors",
        &key,
        Some(&json!({ "vectors": seed })),
    )
    .ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while feed(&b, &key).state != "live" {
        assert!(Instant::now() < deadline, "B's feed never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let search = |server: &Server, min: Option<u64>, header: bool| {
        let mut body = json!({"vector": &*QUERY, "k": 3});
        let version = min.map(|m| m.to_string());
        let headers: Vec<(&str, &str)> = match (&version, header) {
            (Some(v), true) => vec![("x-zerodb-min-version", v.as_str())],
            (Some(_), false) => {
                body["min_version"] = json!(min);
                vec![]
            }
            (None, _) => vec![],
        };
        server.send_with(
            "POST",
            "/v1/collections/docs/search",
            Some(&key),
            Some(body.to_string().into_bytes()),
            &headers,
        )
    };
    let write = |n: usize, rng: &mut rand::rngs::StdRng| -> u64 {
        let values = if n.is_multiple_of(2) {
            QUERY.clone()
        } else {
            random_vector(rng)
        };
        let body = json!({"vectors": [{"id": format!("w{n}"), "values": values}]});
        a.call("PUT", "/v1/collections/docs/vectors", &key, Some(&body)).ok()["version"]
            .as_u64()
            .unwrap()
    };
    let version_of = |reply: &Reply| reply.json["version"].as_u64().unwrap_or(0);

    // Even writes: a read naming the write's version goes to B at once.
    // Odd writes: B is polled until it answers the new version; the lag is
    // when that first fresh read started.
    let (mut lags, mut hits) = (Vec::new(), 0);
    for n in 0..400 {
        // B holds the current answer in its cache.
        for _ in 0..3 {
            hits += usize::from(search(&b, None, false).cache.as_deref() == Some("hit"));
        }
        let version = write(n, &mut rng);
        let acknowledged = Instant::now();
        if n.is_multiple_of(2) {
            let pinned = search(&b, Some(version), n.is_multiple_of(4));
            assert_eq!(pinned.status, 200, "{}", pinned.json);
            assert!(
                version_of(&pinned) >= version,
                "a read at min_version {version} answered version {}",
                version_of(&pinned)
            );
        }
        loop {
            let started = acknowledged.elapsed();
            if version_of(&search(&b, None, false)) >= version {
                if !n.is_multiple_of(2) {
                    lags.push(started);
                }
                break;
            }
            assert!(started < Duration::from_secs(5), "B never saw version {version}");
        }
    }
    lags.sort();
    eprintln!(
        "feed lag A→B over {} writes: p50 {:?}, p99 {:?}, max {:?} ({hits} cache hits on B before the writes)",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags[lags.len() - 1]
    );
    assert!(hits >= 600, "B's cache answered only {hits} of 1200 warm reads");

    // Cut B's feed again and again while A writes and B reads. A write
    // whose notice B missed must still be seen: B asks the database while
    // its feed is down and re-reads every token when it resubscribes. Reads
    // start 100 ms after the acknowledgement, far past the feed's lag
    // measured above, so a stale one is a missed write, not a slow notice.
    let subscribed = feed(&b, &key).subscriptions;
    let cutting = Arc::new(AtomicBool::new(true));
    let feed_name = format!("zerodb-edge-feed-{}", b.pid());
    let cutter = {
        let cutting = cutting.clone();
        let mut client = db.client();
        std::thread::spawn(move || {
            let mut cuts = 0;
            while cutting.load(Ordering::Relaxed) {
                let killed: i64 = client
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                        &[&feed_name],
                    )
                    .unwrap()
                    .get(0);
                cuts += killed;
                std::thread::sleep(Duration::from_millis(30));
            }
            cuts
        })
    };
    let mut stale = 0;
    for n in 400..500 {
        let version = write(n, &mut rng);
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..3 {
            let reply = search(&b, None, false);
            assert_eq!(reply.status, 200, "{}", reply.json);
            stale += usize::from(version_of(&reply) < version);
        }
    }
    cutting.store(false, Ordering::Relaxed);
    let cuts = cutter.join().unwrap();
    assert!(cuts >= 3, "the feed was cut only {cuts} times");
    assert_eq!(stale, 0, "{stale} reads on B missed a write while its feed was cut");
    // B resubscribes by itself and serves from its cache again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Feed {
            state, subscriptions, ..
        } = feed(&b, &key);
        if state == "live" && subscriptions > subscribed {
            break;
        }
        assert!(Instant::now() < deadline, "B's feed did not come back: {state}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let version = write(500, &mut rng);
    let deadline = Instant::now() + Duration::from_secs(5);
    while version_of(&search(&b, None, false)) < version {
        assert!(
            Instant::now() < deadline,
            "B stopped learning writes after its feed came back"
        );
    }
    let repeats: Vec<_> = (0..5).map(|_| search(&b, None, false).cache).collect();
    assert!(repeats.iter().any(|c| c.as_deref() == Some("hit")), "{repeats:?}");
    eprintln!("feed cut {cuts} times during 100 writes and 300 reads on B: 0 stale");
}

/// What writers have acknowledged so far: the largest version and the
/// vector written at it.
#[derive(Clone, Default)]
struct Acknowledged {
    version: u64,
    last: Option<(String, Vec<f32>)>,
}

/// Reads interleaved with writes on one collection, with and without hot
/// copies: 4 of 32 clients write while 28 read. A read that starts after a
/// write was acknowledged sees it: its version is at least the write's, and
/// the vector written last is found by id with its values.
#[test]
fn reads_interleaved_with_writes_never_miss_an_acknowledged_one() {
    for (tag, flags) in [
        ("interleaved_hot", &[][..]),
        ("interleaved_cold", &["--hot-collection-max-vectors", "0"][..]),
    ] {
        let db = TestDb::new(tag);
        let key = db.key("coherence");
        let mut args = vec!["--migrate", "--edge-shards", "1"];
        args.extend(flags);
        let server = Server::start_with(&db.url, &args);
        let dims = 256;
        let mut seed_rng = rng(13);
        let spec = json!({"dims": dims, "metric": "cosine", "index": "none"});
        server.call("PUT", "/v1/collections/docs", &key, Some(&spec)).ok();
        let seed: Vec<Value> = (0..200)
            .map(|i| json!({"id": format!("s{i}"), "values": (0..dims).map(|_| seed_rng.gen_range(-1.0f32..1.0)).collect::<Vec<_>>()}))
            .collect();
        let body = json!({ "vectors": seed });
        server
            .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
            .ok();

        let (writers, writes) = (4, 25);
        let acknowledged = Mutex::new(Acknowledged::default());
        let writing = std::sync::atomic::AtomicUsize::new(writers);
        let outcomes = clients(CLIENTS, |client| {
            let (mut reads, mut hits, mut missed) = (0, 0, Vec::new());
            if client < writers {
                // The readers read until every writer is done, also one
                // whose assertion failed.
                let _done = OnDrop(|| {
                    writing.fetch_sub(1, Ordering::Relaxed);
                });
                let mut rng = rng(100 + client as u64);
                for n in 0..writes {
                    let id = format!("w{client}-{n}");
                    let values: Vec<f32> = (0..dims).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
                    let body = json!({"vectors": [{"id": id, "values": values}]});
                    let reply = server
                        .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
                        .ok();
                    let version = reply["version"].as_u64().unwrap();
                    let mut ack = acknowledged.lock().unwrap();
                    if version > ack.version {
                        *ack = Acknowledged {
                            version,
                            last: Some((id, values)),
                        };
                    }
                }
                return (reads, hits, missed);
            }
            let query: Vec<f32> = (0..dims).map(|i| ((i * 7 + client) % 13) as f32 - 6.0).collect();
            while writing.load(Ordering::Relaxed) > 0 {
                let ack = acknowledged.lock().unwrap().clone();
                let search = server.call(
                    "POST",
                    "/v1/collections/docs/search",
                    &key,
                    Some(&json!({"vector": query, "k": 5})),
                );
                reads += 1;
                hits += usize::from(search.cache.as_deref() == Some("hit"));
                let version = search.json["version"].as_u64().unwrap_or(0);
                if search.status != 200 || version < ack.version {
                    missed.push(format!(
                        "search answered {} at version {version}, acknowledged {}",
                        search.status, ack.version
                    ));
                }
                if let Some((id, values)) = &ack.last {
                    let got = server.call("GET", &format!("/v1/collections/docs/vectors/{id}"), &key, None);
                    reads += 1;
                    hits += usize::from(got.cache.as_deref() == Some("hit"));
                    let read: Option<Vec<f32>> = serde_json::from_value(got.json["values"].clone()).ok();
                    if got.status != 200 || read.as_ref() != Some(values) {
                        missed.push(format!("{id} answered {}", got.status));
                    }
                }
            }
            (reads, hits, missed)
        });
        let reads: usize = outcomes.iter().map(|o| o.0).sum();
        let hits: usize = outcomes.iter().map(|o| o.1).sum();
        let missed: Vec<&String> = outcomes.iter().flat_map(|o| &o.2).collect();
        eprintln!(
            "{tag}: {} writes, {reads} reads during them, {hits} cache hits, {} missed a write",
            writers * writes,
            missed.len()
        );
        assert!(
            missed.is_empty(),
            "{tag}: {} reads missed a write: {:?}",
            missed.len(),
            &missed[..missed.len().min(5)]
        );
        assert!(reads >= 200, "{tag}: only {reads} reads overlapped the writes");
        assert!(hits > 0, "{tag}: no read met the cache");
    }
}

/// A collection dropped and created again, over and over, while 31
/// clients search it: once a generation is acknowledged, no read shows a
/// vector of an earlier one, and a read finds the collection missing or
/// empty only while a later drop was under way.
#[test]
fn a_drop_and_re_create_racing_cached_reads_never_shows_the_old_data() {
    let db = TestDb::new("drop_race");
    let key = db.key("coherence");
    let server = Server::start_with(&db.url, &["--migrate", "--edge-shards", "1"]);
    let dims = 8;
    let generations = 12u64;
    // The generation whose vectors are acknowledged, and the latest whose
    // drop (or, for the first, creation) has started: the first is under
    // way before any reader starts.
    let (live, dropping) = (
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(1),
    );
    let query = vec![0.5f32; dims];
    let problems = clients(CLIENTS, |client| {
        let mut problems = Vec::new();
        if client == 0 {
            // The readers read until the last generation is live, or until
            // client 0 fails an assertion.
            let _last = OnDrop(|| live.store(generations, Ordering::SeqCst));
            let mut rng = rng(14);
            for generation in 1..=generations {
                dropping.store(generation, Ordering::SeqCst);
                if generation > 1 {
                    server.call("DELETE", "/v1/collections/docs", &key, None).ok();
                }
                let spec = json!({"dims": dims, "index": "none"});
                server.call("PUT", "/v1/collections/docs", &key, Some(&spec)).ok();
                let vectors: Vec<Value> = (0..20)
                    .map(|i| json!({"id": format!("g{generation}-{i}"), "values": (0..dims).map(|_| rng.gen_range(-1.0f32..1.0)).collect::<Vec<_>>()}))
                    .collect();
                let body = json!({ "vectors": vectors });
                server
                    .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
                    .ok();
                live.store(generation, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
            }
            return problems;
        }
        while live.load(Ordering::SeqCst) < generations {
            let acknowledged = live.load(Ordering::SeqCst);
            let reply = server.call(
                "POST",
                "/v1/collections/docs/search",
                &key,
                Some(&json!({"vector": query, "k": 5})),
            );
            let moved_on = dropping.load(Ordering::SeqCst) > acknowledged;
            let hits = reply.json["hits"].as_array().cloned().unwrap_or_default();
            let oldest = hits
                .iter()
                .filter_map(|h| {
                    h["id"]
                        .as_str()?
                        .strip_prefix('g')?
                        .split('-')
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
                .min();
            match (reply.status, oldest) {
                (200, Some(g)) if g < acknowledged => {
                    problems.push(format!("generation {g} served after {acknowledged} was acknowledged"))
                }
                (200, Some(_)) if hits.len() == 5 => {}
                (200, _) | (404, _) if moved_on => {}
                (status, _) => problems.push(format!("{status} at generation {acknowledged}: {}", reply.json)),
            }
        }
        problems
    });
    let problems: Vec<&String> = problems.iter().flatten().collect();
    assert!(
        problems.is_empty(),
        "{} bad reads: {:?}",
        problems.len(),
        &problems[..problems.len().min(5)]
    );
}
