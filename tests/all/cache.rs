//! The hot-vector cache in the edge component, seen over HTTP.

use crate::harness::*;
use rand::Rng;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn create(server: &Server, key: &str, name: &str, spec: Value, vectors: &[Vec<f32>]) {
    server
        .call("PUT", &format!("/v1/collections/{name}"), key, Some(&spec))
        .ok();
    server.upsert_numbered(key, name, vectors, |i| json!({ "i": i }));
}

fn random_vectors(seed: u64, n: usize, dims: usize) -> Vec<Vec<f32>> {
    let mut rng = rng(seed);
    (0..n)
        .map(|_| (0..dims).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect()
}

fn cache_stats(server: &Server, key: &str) -> Value {
    server.call("GET", "/v1/health", key, None).ok()["edge"]["cache"].clone()
}

#[test]
fn repeated_reads_hit_and_writes_invalidate() {
    let db = TestDb::new("cache_hits");
    let key = db.key("acme");
    let server = Server::start_with(&db.url, &["--migrate", "--hot-collection-max-vectors", "0"]);
    let vectors = random_vectors(1, 50, 8);
    create(&server, &key, "docs", json!({"dims": 8}), &vectors);
    let search = |vector: &[f32], consistency: &str| {
        let body = json!({"vector": vector, "k": 5, "consistency": consistency});
        server.call("POST", "/v1/collections/docs/search", &key, Some(&body))
    };
    let query = random_vectors(2, 1, 8).remove(0);

    let first = search(&query, "eventual");
    assert_eq!(first.cache.as_deref(), Some("miss"));
    assert_eq!(first.json["source"], "origin");
    let second = search(&query, "eventual");
    assert_eq!(second.cache.as_deref(), Some("hit"));
    assert_eq!(second.json["source"], "edge");
    assert_eq!(
        second.json["hits"], first.json["hits"],
        "a hit answers the same as the origin did"
    );
    assert_eq!(search(&query, "strong").cache.as_deref(), Some("bypass"));

    let get = |id: &str| server.call("GET", &format!("/v1/collections/docs/vectors/{id}"), &key, None);
    assert_eq!(get("v3").cache.as_deref(), Some("miss"));
    assert_eq!(get("v3").cache.as_deref(), Some("hit"));

    // A write through the edge: the next reads miss and see it.
    let write = json!({"vectors": [{"id": "v3", "values": query, "metadata": {"new": true}}]});
    server
        .call("PUT", "/v1/collections/docs/vectors", &key, Some(&write))
        .ok();
    let after = search(&query, "eventual");
    assert_eq!(after.cache.as_deref(), Some("miss"));
    assert_eq!(hit_ids(&after.json)[0], "v3");
    let got = get("v3");
    assert_eq!(got.cache.as_deref(), Some("miss"));
    assert_eq!(got.json["metadata"], json!({"new": true}));
    assert_eq!(search(&query, "eventual").cache.as_deref(), Some("hit"));

    server
        .call("DELETE", "/v1/collections/docs/vectors/v3", &key, None)
        .ok();
    let after = search(&query, "eventual");
    assert_eq!(after.cache.as_deref(), Some("miss"));
    assert!(!hit_ids(&after.json).contains(&"v3".to_string()));
    assert_eq!(get("v3").status, 404);

    // Results are keyed by k, filter and include flags: the same vector
    // in another shape is a miss, then a hit of its own.
    for shape in [
        json!({"vector": query, "k": 6}),
        json!({"vector": query, "k": 5, "filter": {"i": 1}}),
        json!({"vector": query, "k": 5, "include_values": true}),
        json!({"vector": query, "k": 5, "include_metadata": false}),
    ] {
        let call = || server.call("POST", "/v1/collections/docs/search", &key, Some(&shape));
        assert_eq!(call().cache.as_deref(), Some("miss"), "{shape}");
        assert_eq!(call().cache.as_deref(), Some("hit"), "{shape}");
    }

    // Another project with a collection of the same name never sees these
    // entries: its answers are its own vectors, value for value.
    let other = db.key("globex");
    let theirs_data = random_vectors(9, 5, 8);
    create(&server, &other, "docs", json!({"dims": 8}), &theirs_data);
    let body = json!({"vector": query, "k": 5, "include_values": true});
    for round in 0..2 {
        let theirs = server.call("POST", "/v1/collections/docs/search", &other, Some(&body));
        assert_eq!(theirs.cache.as_deref(), Some(["miss", "hit"][round]));
        let hits = theirs.json["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 5);
        for hit in hits {
            let i: usize = hit["id"].as_str().unwrap()[1..].parse().unwrap();
            let values: Vec<f32> = serde_json::from_value(hit["values"].clone()).unwrap();
            assert_eq!(values, theirs_data[i], "globex's {} is globex's vector", hit["id"]);
            assert_ne!(values, vectors[i], "globex got acme's {}", hit["id"]);
        }
    }
}

#[test]
fn entries_expire_after_the_ttl() {
    let db = TestDb::new("cache_ttl");
    let key = db.key("acme");
    let args = [
        "--migrate",
        "--hot-collection-max-vectors",
        "0",
        "--cache-ttl-ms",
        "400",
    ];
    let server = Server::start_with(&db.url, &args);
    create(&server, &key, "docs", json!({"dims": 4}), &random_vectors(3, 20, 4));
    let body = json!({"vector": [0.1, 0.2, 0.3, 0.4], "k": 3});
    let search = || server.call("POST", "/v1/collections/docs/search", &key, Some(&body));
    assert_eq!(search().cache.as_deref(), Some("miss"));
    assert_eq!(search().cache.as_deref(), Some("hit"));
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(search().cache.as_deref(), Some("miss"));
    assert_eq!(search().cache.as_deref(), Some("hit"));
}

#[test]
fn a_semantic_threshold_answers_near_queries() {
    let db = TestDb::new("cache_semantic");
    let key = db.key("acme");
    let server = Server::start_with(&db.url, &["--migrate", "--hot-collection-max-vectors", "0"]);
    let spec = json!({"dims": 64, "cache_similarity": 0.995});
    create(&server, &key, "docs", spec, &random_vectors(4, 100, 64));
    let query = random_vectors(5, 1, 64).remove(0);
    let nudged = |by: f32| -> Vec<f32> {
        query
            .iter()
            .enumerate()
            .map(|(i, x)| x + by * ((i % 3) as f32 - 1.0))
            .collect()
    };
    let search = |v: &[f32]| {
        server.call(
            "POST",
            "/v1/collections/docs/search",
            &key,
            Some(&json!({"vector": v, "k": 5})),
        )
    };
    assert_eq!(search(&query).cache.as_deref(), Some("miss"));
    let near = nudged(0.02);
    assert!(cosine(&query, &near) >= 0.995);
    assert_eq!(search(&near).cache.as_deref(), Some("hit"));
    let far = nudged(0.3);
    assert!(cosine(&query, &far) < 0.995);
    assert_eq!(search(&far).cache.as_deref(), Some("miss"));
}

/// 200 queries from 32 clients at once, over the warm instances of one
/// shard: every answer from a hot copy equals the exact origin answer.
#[test]
fn hot_collection_answers_equal_exact_origin_answers() {
    let db = TestDb::new("cache_hot");
    let key = db.key("acme");
    let server = Server::start_with(&db.url, &["--migrate", "--edge-shards", "1"]);
    let vectors = random_vectors(6, 2000, 1536);
    create(&server, &key, "docs", json!({"dims": 1536, "index": "none"}), &vectors);
    let search = |body: Value| server.call("POST", "/v1/collections/docs/search", &key, Some(&body));
    let queries = random_vectors(7, 200, 1536);
    let scores = |v: &Value| -> Vec<f64> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["score"].as_f64().unwrap())
            .collect()
    };
    // Each instance loads the copy on its second search; after that it
    // answers alone.
    let edge_answers: Vec<usize> = clients(CLIENTS, |client| {
        let mut from_edge = 0;
        for (q, query) in queries.iter().enumerate().filter(|(q, _)| q % CLIENTS == client) {
            let k = 1 + q % 20;
            let edge = search(json!({"vector": query, "k": k}));
            let origin = search(json!({"vector": query, "k": k, "consistency": "strong"})).ok();
            assert_eq!(edge.status, 200, "query {q}: {}", edge.json);
            if edge.json["source"] == "edge" {
                from_edge += 1;
            }
            assert_eq!(
                hit_ids(&edge.json),
                hit_ids(&origin),
                "query {q}: same ids in the same order"
            );
            for (e, o) in scores(&edge.json).iter().zip(scores(&origin)) {
                assert!((e - o).abs() <= 1e-5, "query {q}: score {e} vs {o}");
            }
        }
        from_edge
    });
    let from_edge: usize = edge_answers.iter().sum();
    assert!(from_edge >= 100, "only {from_edge} of 200 answers came from hot copies");
    assert!(cache_stats(&server, &key)["hot_collections"] == 1);
    // Reads by id come from the hot copy too.
    let got = server.call("GET", "/v1/collections/docs/vectors/v42", &key, None);
    assert_eq!(got.cache.as_deref(), Some("hit"));
    assert_eq!(
        serde_json::from_value::<Vec<f32>>(got.json["values"].clone()).unwrap(),
        vectors[42]
    );
}

/// A write through the instance that holds a hot copy patches the copy:
/// the next search is still answered by the edge, and sees the write.
#[test]
fn a_write_patches_the_hot_copy() {
    let db = TestDb::new("cache_patch");
    let key = db.key("acme");
    let args = ["--migrate", "--edge-shards", "1", "--edge-instances-per-shard", "1"];
    let server = Server::start_with(&db.url, &args);
    let vectors = random_vectors(21, 300, 16);
    create(&server, &key, "docs", json!({"dims": 16, "index": "none"}), &vectors);
    let query = random_vectors(22, 1, 16).remove(0);
    let search = || {
        server.call(
            "POST",
            "/v1/collections/docs/search",
            &key,
            Some(&json!({"vector": query, "k": 3})),
        )
    };
    search().ok();
    search().ok();
    assert_eq!(cache_stats(&server, &key)["hot_collections"], 1);
    assert_eq!(search().json["source"], "edge");
    let write = json!({"vectors": [{"id": "new", "values": query}]});
    server
        .call("PUT", "/v1/collections/docs/vectors", &key, Some(&write))
        .ok();
    server
        .call("DELETE", "/v1/collections/docs/vectors/v7", &key, None)
        .ok();
    let after = search();
    assert_eq!(after.cache.as_deref(), Some("hit"), "{}", after.json);
    assert_eq!(after.json["source"], "edge");
    assert_eq!(hit_ids(&after.json)[0], "new");
    let got = server.call("GET", "/v1/collections/docs/vectors/v7", &key, None);
    assert_eq!(got.status, 404);
    assert_eq!(cache_stats(&server, &key)["hot_collections"], 1);
}

/// A query the hot copy answered before is answered again from its cached
/// result, whether its body has the same bytes or not: no second scan. A
/// new query scans; after a write the repeat scans the patched copy.
#[test]
fn a_repeated_query_on_a_hot_copy_is_not_scanned_again() {
    let db = TestDb::new("cache_hot_repeat");
    let key = db.key("acme");
    let args = ["--migrate", "--edge-shards", "1", "--edge-instances-per-shard", "1"];
    let server = Server::start_with(&db.url, &args);
    let vectors = random_vectors(23, 300, 16);
    create(&server, &key, "docs", json!({"dims": 16, "index": "none"}), &vectors);
    let search = |body: &Value| server.call("POST", "/v1/collections/docs/search", &key, Some(body));
    let scans = || cache_stats(&server, &key)["hot_scans"].as_u64().unwrap();
    let warm = json!({"vector": vectors[0], "k": 1});
    search(&warm).ok();
    search(&warm).ok();
    assert_eq!(cache_stats(&server, &key)["hot_collections"], 1);

    let query = random_vectors(24, 1, 16).remove(0);
    let body = json!({"vector": query, "k": 5});
    let scanned = scans();
    let first = search(&body);
    assert_eq!(
        (first.cache.as_deref(), &first.json["source"]),
        (Some("hit"), &json!("edge"))
    );
    assert_eq!(scans(), scanned + 1, "a new query scans the copy");
    let reordered = json!({"k": 5, "vector": query});
    for again in [&body, &body, &reordered, &body] {
        let reply = search(again);
        assert_eq!(reply.cache.as_deref(), Some("hit"));
        assert_eq!(reply.json["hits"], first.json["hits"]);
    }
    assert_eq!(scans(), scanned + 1, "a repeated query was scanned again");

    let write = json!({"vectors": [{"id": "new", "values": query}]});
    server
        .call("PUT", "/v1/collections/docs/vectors", &key, Some(&write))
        .ok();
    let after = search(&body);
    assert_eq!(after.cache.as_deref(), Some("hit"), "{}", after.json);
    assert_eq!(hit_ids(&after.json)[0], "new", "the repeat sees the write");
    assert_eq!(scans(), scanned + 2, "after a write the repeat scans the patched copy");
}

/// A collection is loaded whole only when it has at most
/// `--hot-collection-max-vectors` vectors and its copy fits in half the
/// cache's budget.
#[test]
fn hot_copies_respect_the_vector_bound_and_half_the_budget() {
    let db = TestDb::new("cache_hot_bounds");
    let key = db.key("acme");
    let args = [
        "--migrate",
        "--edge-shards",
        "1",
        "--edge-instances-per-shard",
        "1",
        "--hot-collection-max-vectors",
        "1000",
        "--cache-bytes",
        "1048576",
    ];
    let server = Server::start_with(&db.url, &args);
    // (name, count, dims, whether it may be loaded whole)
    let cases = [
        ("at_bound", 1000, 64, true),
        ("past_bound", 1001, 8, false),
        ("over_half_budget", 1000, 160, false),
    ];
    for (name, count, dims, hot) in cases {
        let spec = json!({"dims": dims, "index": "none"});
        create(&server, &key, name, spec, &random_vectors(23, count, dims));
        let body = json!({"vector": vec![0.5f32; dims], "k": 3});
        for _ in 0..4 {
            server
                .call("POST", &format!("/v1/collections/{name}/search"), &key, Some(&body))
                .ok();
        }
        // A query not seen before: a hot copy answers it, or the origin.
        let unseen = json!({"vector": vec![0.25f32; dims], "k": 3});
        let answer = server
            .call("POST", &format!("/v1/collections/{name}/search"), &key, Some(&unseen))
            .ok();
        assert_eq!(answer["source"] == "edge", hot, "{name}: {answer}");
    }
    assert_eq!(cache_stats(&server, &key)["hot_collections"], 1);
}

#[test]
fn the_byte_budget_is_never_exceeded() {
    let db = TestDb::new("cache_budget");
    let key = db.key("acme");
    let budget = 1 << 20;
    let args = [
        "--migrate",
        "--edge-shards",
        "1",
        "--hot-collection-max-vectors",
        "0",
        "--cache-bytes",
        "1048576",
    ];
    let server = Server::start_with(&db.url, &args);
    create(
        &server,
        &key,
        "docs",
        json!({"dims": 256, "index": "none"}),
        &random_vectors(8, 300, 256),
    );
    // Each answer holds 50 vectors of 256 floats: about 50 KiB.
    for (i, query) in random_vectors(10, 60, 256).iter().enumerate() {
        let body = json!({"vector": query, "k": 50, "include_values": true});
        let reply = server.call("POST", "/v1/collections/docs/search", &key, Some(&body));
        assert_eq!(reply.cache.as_deref(), Some("miss"));
        if i % 10 == 9 {
            let stats = cache_stats(&server, &key);
            assert!(stats["bytes"].as_u64().unwrap() <= budget, "{stats}");
        }
    }
    let stats = cache_stats(&server, &key);
    assert!(stats["bytes"].as_u64().unwrap() <= budget, "{stats}");
    assert!(stats["bytes"].as_u64().unwrap() > budget / 2, "{stats}");
    assert!(stats["evictions"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["budget_bytes"], budget);
}

#[test]
fn instances_are_recycled_after_their_request_budget() {
    let db = TestDb::new("cache_recycle");
    let key = db.key("acme");
    let args = [
        "--migrate",
        "--edge-shards",
        "1",
        "--hot-collection-max-vectors",
        "0",
        "--instance-max-requests",
        "4",
    ];
    let server = Server::start_with(&db.url, &args);
    create(&server, &key, "docs", json!({"dims": 4}), &random_vectors(12, 10, 4));
    let body = json!({"vector": [0.4, 0.3, 0.2, 0.1], "k": 2});
    let search = || {
        server
            .call("POST", "/v1/collections/docs/search", &key, Some(&body))
            .cache
    };
    // The instance that served the two writes serves two more requests, then
    // a fresh one (with an empty cache) takes over.
    assert_eq!(search().as_deref(), Some("miss"));
    assert_eq!(search().as_deref(), Some("hit"));
    assert_eq!(search().as_deref(), Some("miss"));
    for _ in 0..3 {
        assert_eq!(search().as_deref(), Some("hit"));
    }
    assert_eq!(search().as_deref(), Some("miss"));
}

#[test]
fn expired_entries_are_served_stale_while_the_database_is_down() {
    let db = TestDb::new("cache_stale");
    let key = db.key("acme");
    let port: u16 = db
        .url
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let link = DbLink::open(port);
    let args = [
        "--migrate",
        "--hot-collection-max-vectors",
        "0",
        "--cache-ttl-ms",
        "300",
        "--auth-cache-ms",
        "300",
        "--health-interval-ms",
        "200",
        "--health-down-interval-ms",
        "200",
    ];
    let server = Server::start_with(&with_port(&db.url, link.port), &args);
    create(&server, &key, "docs", json!({"dims": 4}), &random_vectors(13, 20, 4));
    let body = json!({"vector": [0.1, 0.2, 0.3, 0.4], "k": 3});
    let search = |body: &Value| server.call("POST", "/v1/collections/docs/search", &key, Some(body));
    let fresh = search(&body);
    assert_eq!(fresh.cache.as_deref(), Some("miss"));

    link.cut();
    // The probe finds the connection refused and opens the breaker.
    let cut = std::time::Instant::now();
    while server.metric("zerodb_health_up{service=\"postgres\"}") != 0.0 {
        assert!(cut.elapsed().as_secs() < 10, "the probe never saw the cut");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(400));
    let acquisitions = server.metric("zerodb_db_pool_acquisitions_total");
    let refusals = server.metric("zerodb_db_breaker_refusals_total");
    // The entry and the key's resolution have both expired: the answer is
    // the cached one, marked stale.
    let stale = search(&body);
    assert_eq!(stale.status, 200, "{}", stale.json);
    assert_eq!(stale.cache.as_deref(), Some("stale"));
    assert_eq!(stale.json["source"], "edge");
    assert_eq!(stale.json["hits"], fresh.json["hits"]);
    // Nothing cached for this query: a 503 with Retry-After.
    let miss = search(&json!({"vector": [0.4, 0.3, 0.2, 0.1], "k": 3}));
    assert_eq!((miss.status, miss.error_code()), (503, "database_unavailable"));
    assert!(miss.retry_after.is_some());
    // Writes too.
    let write = json!({"vectors": [{"id": "x", "values": [1.0, 0.0, 0.0, 0.0]}]});
    let reply = server.call("PUT", "/v1/collections/docs/vectors", &key, Some(&write));
    assert_eq!((reply.status, reply.error_code()), (503, "database_unavailable"));
    assert!(reply.retry_after.is_some());
    // All of it answered by the breaker, none of it waiting on the pool.
    assert_eq!(
        server.metric("zerodb_db_pool_acquisitions_total"),
        acquisitions,
        "a request waited on the pool of a database known to be down"
    );
    assert!(server.metric("zerodb_db_breaker_refusals_total") >= refusals + 2.0);
}

/// All requests of one key about one collection reach the same shard: of
/// four shards, only one ever has a request in flight.
#[test]
fn one_keys_requests_about_one_collection_reach_one_shard() {
    let db = TestDb::new("cache_shards");
    let key = db.key("acme");
    let server = Server::start_with(&db.url, &["--migrate", "--edge-shards", "4"]);
    create(&server, &key, "docs", json!({"dims": 4}), &random_vectors(24, 20, 4));
    for i in 0..20 {
        let body = json!({"vector": [1.0, i as f32, 0.0, 0.5], "k": 3});
        server
            .call("POST", "/v1/collections/docs/search", &key, Some(&body))
            .ok();
        server
            .call("GET", &format!("/v1/collections/docs/vectors/v{i}"), &key, None)
            .ok();
    }
    let used: Vec<usize> = (0..4)
        .filter(|shard| server.metric(&format!("zerodb_edge_in_flight_high_water{{shard=\"{shard}\"}}")) > 0.0)
        .collect();
    assert_eq!(used.len(), 1, "shards used: {used:?}");
}

/// `/metrics` counts each shard's answers by their `x-zerodb-cache` value
/// (so a hit ratio per shard), and reports the host's resident memory.
#[test]
fn metrics_count_answers_by_cache_result_and_resident_memory() {
    let db = TestDb::new("cache_metrics");
    let key = db.key("acme");
    let args = ["--migrate", "--edge-shards", "1", "--hot-collection-max-vectors", "0"];
    let server = Server::start_with(&db.url, &args);
    create(&server, &key, "docs", json!({"dims": 4}), &random_vectors(31, 20, 4));
    let counts = || {
        let all = server.metrics();
        ["hit", "miss", "bypass"]
            .map(|r| all[&format!("zerodb_edge_cache_requests_total{{shard=\"0\",result=\"{r}\"}}")])
    };
    let before = counts();
    let body = json!({"vector": [0.1, 0.2, 0.3, 0.4], "k": 3});
    let strong = json!({"vector": [0.1, 0.2, 0.3, 0.4], "k": 3, "consistency": "strong"});
    for (body, expected) in [(&body, "miss"), (&body, "hit"), (&body, "hit"), (&strong, "bypass")] {
        let reply = server.call("POST", "/v1/collections/docs/search", &key, Some(body));
        assert_eq!(reply.cache.as_deref(), Some(expected));
    }
    let after = counts();
    let delta: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, [2.0, 1.0, 1.0], "hit, miss and bypass answers counted");

    let reported = server.metric("process_resident_memory_bytes");
    let actual = server.memory_bytes("VmRSS");
    assert!(actual > 0.0, "/proc gave no VmRSS");
    assert!(
        (reported - actual).abs() < actual / 4.0,
        "reported {reported} bytes resident, /proc says {actual}"
    );
}

/// A server of one shard with one instance (so one cache), which runs at
/// most `running` requests at once besides those waiting on the origin.
fn one_instance(db: &TestDb, running: &str) -> Server {
    let args = [
        "--migrate",
        "--edge-shards",
        "1",
        "--edge-instances-per-shard",
        "1",
        "--edge-requests-per-instance",
        running,
    ];
    Server::start_with(&db.url, &args)
}

/// A transaction holding collection `name`'s table in ACCESS EXCLUSIVE
/// mode (every query of it waits until the transaction ends), with the
/// table's id (`zerodb_data.c{id}`).
fn lock_collection<'a>(client: &'a mut postgres::Client, name: &str) -> (i64, postgres::Transaction<'a>) {
    let table: i64 = client
        .query_one("SELECT id FROM zerodb.collections WHERE name = $1", &[&name])
        .unwrap()
        .get(0);
    let mut lock = client.transaction().unwrap();
    lock.batch_execute(&format!("LOCK TABLE zerodb_data.c{table} IN ACCESS EXCLUSIVE MODE"))
        .unwrap();
    (table, lock)
}

/// One instance serves its shard's requests at once: while a search waits
/// on PostgreSQL (its collection's table locked by a transaction of the
/// test), repeated searches of another collection are answered from the
/// same instance's cache, one after another, without waiting for it; the
/// same search asked again meanwhile joins the first's query (one query
/// runs, as `pg_stat_activity` shows). With
/// one request per instance (the model before the async origin import)
/// every hit would wait the whole lock out. The instance runs two requests
/// at most, and the four waiting on the origin do not count: were they
/// counted, the hits would queue, and an overflow instance (another id,
/// another cache) would answer them.
#[test]
fn a_miss_waiting_on_the_database_does_not_hold_up_hits() {
    let db = TestDb::new("cache_concurrent");
    let key = db.key("acme");
    let server = one_instance(&db, "2");
    let vectors = random_vectors(31, 50, 8);
    create(&server, &key, "warm", json!({"dims": 8, "index": "none"}), &vectors);
    create(&server, &key, "held", json!({"dims": 8, "index": "none"}), &vectors);
    let search = |name: &str, i: usize| {
        let body = json!({"vector": vectors[i], "k": 3});
        server.call("POST", &format!("/v1/collections/{name}/search"), &key, Some(&body))
    };
    search("warm", 0).ok();
    assert_eq!(search("warm", 0).cache.as_deref(), Some("hit"));

    let mut client = db.client();
    let (table, lock) = lock_collection(&mut client, "held");
    let held = Duration::from_secs(2);
    std::thread::scope(|scope| {
        let miss = scope.spawn(|| search("held", 1));
        // The miss is in the instance, waiting on the lock; the same search
        // again, three times at once, joins its query.
        std::thread::sleep(Duration::from_millis(300));
        let same: Vec<_> = (0..3).map(|_| scope.spawn(|| search("held", 1))).collect();
        std::thread::sleep(Duration::from_millis(300));
        let waiting: i64 = db
            .client()
            .query_one(
                // Tests run at once, each in a database of its own with the same table ids.
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE $1 AND state = 'active'",
                &[&format!("%zerodb_data.c{table} %")],
            )
            .unwrap()
            .get(0);
        assert_eq!(waiting, 1, "identical searches ran queries of their own");
        let started = Instant::now();
        let hits: Vec<_> = (0..20).map(|_| search("warm", 0)).collect();
        let hits_took = started.elapsed();
        std::thread::sleep(held.saturating_sub(started.elapsed()));
        lock.commit().unwrap();
        let miss = miss.join().unwrap();
        assert_eq!(miss.status, 200, "{}", miss.json);
        assert_eq!(miss.cache.as_deref(), Some("miss"));
        assert!(
            miss.elapsed >= held,
            "the miss did not wait on the lock: {:?}",
            miss.elapsed
        );
        for hit in &hits {
            assert_eq!((hit.status, hit.cache.as_deref()), (200, Some("hit")), "{}", hit.json);
            assert_eq!(hit.instance, miss.instance, "one instance served both");
        }
        assert!(
            hits_took < held / 2,
            "20 hits took {hits_took:?} beside a miss held {held:?}"
        );
        for waiter in same.into_iter().map(|t| t.join().unwrap()) {
            assert_eq!(waiter.status, 200, "{}", waiter.json);
            assert_eq!(waiter.json["hits"], miss.json["hits"]);
        }
        eprintln!("20 hits in {hits_took:?} while one miss waited {:?}", miss.elapsed);
    });
}

/// Key lookups never wait behind searches that hold every connection of
/// the main pool: keys resolve on connections of their own. With one
/// connection in the main pool, held by a search waiting on a locked
/// table, and the key looked up on every request (`--auth-cache-ms 0`),
/// hits still answer at once; were keys looked up on the main pool, each
/// hit would wait for the lock to go.
#[test]
fn key_lookups_do_not_wait_behind_a_full_pool() {
    let db = TestDb::new("cache_auth_pool");
    let key = db.key("acme");
    let args = [
        "--migrate",
        "--edge-shards",
        "1",
        "--db-max-connections",
        "1",
        "--auth-cache-ms",
        "0",
    ];
    let server = Server::start_with(&db.url, &args);
    let vectors = random_vectors(33, 20, 8);
    create(&server, &key, "warm", json!({"dims": 8, "index": "none"}), &vectors);
    create(&server, &key, "held", json!({"dims": 8, "index": "none"}), &vectors);
    let search = |name: &str, i: usize| {
        let body = json!({"vector": vectors[i], "k": 3});
        server.call("POST", &format!("/v1/collections/{name}/search"), &key, Some(&body))
    };
    // Every instance of the shard answers the warm search from its cache.
    for _ in 0..8 {
        search("warm", 0).ok();
    }

    let mut client = db.client();
    let (_, lock) = lock_collection(&mut client, "held");
    let held = Duration::from_secs(2);
    std::thread::scope(|scope| {
        let miss = scope.spawn(|| search("held", 1));
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let hits: Vec<_> = (0..10).map(|_| search("warm", 0)).collect();
        let hits_took = started.elapsed();
        std::thread::sleep(held.saturating_sub(started.elapsed()));
        lock.commit().unwrap();
        let miss = miss.join().unwrap();
        assert_eq!(
            (miss.status, miss.cache.as_deref()),
            (200, Some("miss")),
            "{}",
            miss.json
        );
        assert!(
            miss.elapsed >= held,
            "the miss did not hold the pool: {:?}",
            miss.elapsed
        );
        for hit in &hits {
            assert_eq!((hit.status, hit.cache.as_deref()), (200, Some("hit")), "{}", hit.json);
        }
        assert!(
            hits_took < held / 2,
            "10 hits took {hits_took:?} beside a miss holding the pool {held:?}"
        );
    });
}

/// A client that sends its body slowly holds none of its instance's
/// places: a small body (a declared length up to 64 KiB) is read whole
/// before the request reaches the instance. With one place per instance,
/// a search whose body is still arriving would otherwise hold the only
/// one, and the hits beside it would wait, then be answered by an
/// overflow instance (another id, another cache).
#[test]
fn a_slowly_sent_body_does_not_hold_up_hits() {
    use std::io::{Read, Write};
    let db = TestDb::new("cache_slow_body");
    let key = db.key("acme");
    let server = one_instance(&db, "1");
    let vectors = random_vectors(32, 20, 8);
    create(&server, &key, "docs", json!({"dims": 8, "index": "none"}), &vectors);
    let search = || {
        let body = json!({"vector": vectors[0], "k": 3});
        server.call("POST", "/v1/collections/docs/search", &key, Some(&body))
    };
    search().ok();
    let warm = search();
    assert_eq!(warm.cache.as_deref(), Some("hit"));

    let body = json!({"vector": vectors[1], "k": 3}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut slow = std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    write!(
        slow,
        "POST /v1/collections/docs/search HTTP/1.1\r\nhost: edge\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    slow.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let hits: Vec<_> = (0..10).map(|_| search()).collect();
    let hits_took = started.elapsed();
    for hit in &hits {
        assert_eq!((hit.status, hit.cache.as_deref()), (200, Some("hit")), "{}", hit.json);
        assert_eq!(hit.instance, warm.instance, "the warm instance answered");
    }
    assert!(hits_took < Duration::from_millis(500), "10 hits took {hits_took:?}");

    slow.write_all(tail.as_bytes()).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"hits\""), "{answer}");
}
