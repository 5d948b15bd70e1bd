//! Every API operation over HTTP, checked against exact computations.

use crate::harness::*;
use rand::Rng;
use serde_json::{json, Value};

const DIMS: usize = 1536;

fn upsert_body(ids: &[String], vectors: &[Vec<f32>], tags: &[&str]) -> Value {
    let vectors: Vec<Value> = ids
        .iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (id, v))| json!({"id": id, "values": v, "metadata": {"tag": tags[i % tags.len()], "n": i}}))
        .collect();
    json!({ "vectors": vectors })
}

fn recall(found: &[String], expected: &[(String, f64)]) -> f64 {
    let hits = expected.iter().filter(|(id, _)| found.contains(id)).count();
    hits as f64 / expected.len() as f64
}

#[test]
fn collection_lifecycle_and_hnsw_search() {
    let db = TestDb::new("api");
    let key = db.key("acme");
    // Searches here must reach pgvector's HNSW index, not an exact hot copy.
    let server = Server::start_with(&db.url, &["--migrate", "--hot-collection-max-vectors", "0"]);
    lifecycle_scenario(&server, &key, None);
}

/// The foundation's API scenario through `server`. With `twin` (another
/// front on the same database), every search is also sent there and must
/// come back identical.
pub fn lifecycle_scenario(server: &Server, key: &str, twin: Option<&Server>) {
    let key = key.to_string();
    let same_as_twin = |body: &Value, found: &Value| {
        if let Some(twin) = twin {
            let theirs = twin.call("POST", "/v1/collections/docs/search", &key, Some(body)).ok();
            assert_eq!(theirs["hits"], found["hits"], "the two fronts answered differently");
        }
    };
    let created = server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": DIMS})))
        .ok();
    assert_eq!(created["dims"], DIMS);
    assert_eq!(created["metric"], "cosine");
    assert_eq!(created["index"], "hnsw");
    // Idempotent for the same spec, 409 for another.
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": DIMS})))
        .ok();
    let conflict = server.call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 8})));
    assert_eq!((conflict.status, conflict.error_code()), (409, "collection_exists"));

    // 1000 vectors in one batch.
    let mut rng = rng(7);
    let vectors = clustered_vectors(&mut rng, 1000, DIMS, 25);
    let ids: Vec<String> = (0..1000).map(|i| format!("doc-{i}")).collect();
    let tags = ["red", "green", "blue", "gold"];
    let upserted = server
        .call(
            "PUT",
            "/v1/collections/docs/vectors",
            &key,
            Some(&upsert_body(&ids, &vectors, &tags)),
        )
        .ok();
    assert_eq!(upserted["upserted"], 1000);
    let described = server.call("GET", "/v1/collections/docs", &key, None).ok();
    assert_eq!(described["count"], 1000);
    assert_eq!(described["version"], upserted["version"]);

    // Every answer says how it was served.
    let probe = server.call(
        "POST",
        "/v1/collections/docs/search",
        &key,
        Some(&json!({"vector": vectors[0], "k": 1})),
    );
    assert_eq!(probe.cache.as_deref(), Some("miss"));
    let strong = json!({"vector": vectors[0], "k": 1, "consistency": "strong"});
    let probe = server.call("POST", "/v1/collections/docs/search", &key, Some(&strong));
    assert_eq!(probe.cache.as_deref(), Some("bypass"));
    assert_eq!(hit_ids(&probe.json), ["doc-0"]);

    // Get returns exactly what was stored.
    let got = server
        .call("GET", "/v1/collections/docs/vectors/doc-17", &key, None)
        .ok();
    let values: Vec<f32> = serde_json::from_value(got["values"].clone()).unwrap();
    assert_eq!(values, vectors[17]);
    assert_eq!(got["metadata"], json!({"tag": "green", "n": 17}));

    // Top-10 with and without a filter, against brute force over the same data.
    let (mut recall_all, mut recall_filtered) = (0.0, 0.0);
    let queries = 20;
    for q in 0..queries {
        let query: Vec<f32> = vectors[q * 37]
            .iter()
            .map(|x| x + rng.gen_range(-0.2f32..0.2))
            .collect();
        let expected = exact_top_k(
            ids.iter().map(String::as_str).zip(vectors.iter().map(Vec::as_slice)),
            &query,
            10,
            cosine,
        );
        let body = json!({"vector": query, "k": 10});
        let found = server
            .call("POST", "/v1/collections/docs/search", &key, Some(&body))
            .ok();
        assert_eq!(found["source"], "origin");
        same_as_twin(&body, &found);
        let hits = found["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 10);
        // Scores are cosine similarities, best first.
        for pair in hits.windows(2) {
            assert!(pair[0]["score"].as_f64().unwrap() >= pair[1]["score"].as_f64().unwrap());
        }
        let top = &hits[0];
        let exact = cosine(
            &query,
            &vectors[ids.iter().position(|i| i == top["id"].as_str().unwrap()).unwrap()],
        );
        assert!((top["score"].as_f64().unwrap() - exact).abs() < 1e-4);
        recall_all += recall(&hit_ids(&found), &expected);

        let filtered_ids: Vec<(&str, &[f32])> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % tags.len() == 2)
            .map(|(i, id)| (id.as_str(), vectors[i].as_slice()))
            .collect();
        let expected = exact_top_k(filtered_ids.into_iter(), &query, 10, cosine);
        let body = json!({"vector": query, "k": 10, "filter": {"tag": "blue"}, "include_values": true});
        let found = server
            .call("POST", "/v1/collections/docs/search", &key, Some(&body))
            .ok();
        same_as_twin(&body, &found);
        let hits = found["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 10, "a filtered search must not come back short");
        for hit in hits {
            assert_eq!(hit["metadata"]["tag"], "blue");
            assert_eq!(hit["values"].as_array().unwrap().len(), DIMS);
        }
        recall_filtered += recall(&hit_ids(&found), &expected);
    }
    let (recall_all, recall_filtered) = (recall_all / queries as f64, recall_filtered / queries as f64);
    assert!(recall_all >= 0.95, "HNSW recall@10 {recall_all}");
    assert!(recall_filtered >= 0.95, "filtered HNSW recall@10 {recall_filtered}");

    // Delete one vector; it is gone from reads and searches.
    let deleted = server
        .call("DELETE", "/v1/collections/docs/vectors/doc-17", &key, None)
        .ok();
    assert_eq!(deleted["deleted"], 1);
    let gone = server.call("GET", "/v1/collections/docs/vectors/doc-17", &key, None);
    assert_eq!((gone.status, gone.error_code()), (404, "vector_not_found"));
    let again = server.call("DELETE", "/v1/collections/docs/vectors/doc-17", &key, None);
    assert_eq!(again.status, 404);
    let found = server
        .call(
            "POST",
            "/v1/collections/docs/search",
            &key,
            Some(&json!({"vector": vectors[17], "k": 5})),
        )
        .ok();
    assert_eq!(hit_ids(&found).len(), 5);
    assert!(!hit_ids(&found).contains(&"doc-17".to_string()));
    assert_eq!(
        server.call("GET", "/v1/collections/docs", &key, None).ok()["count"],
        999
    );

    // Upserting an existing id replaces it and does not change the count.
    let replaced = server
        .call(
            "PUT",
            "/v1/collections/docs/vectors",
            &key,
            Some(&json!({"vectors": [{"id": "doc-1", "values": vectors[2], "metadata": {"tag": "new"}}]})),
        )
        .ok();
    assert_eq!(replaced["upserted"], 1);
    let got = server
        .call("GET", "/v1/collections/docs/vectors/doc-1", &key, None)
        .ok();
    assert_eq!(got["metadata"], json!({"tag": "new"}));
    assert_eq!(
        serde_json::from_value::<Vec<f32>>(got["values"].clone()).unwrap(),
        vectors[2]
    );
    assert_eq!(
        server.call("GET", "/v1/collections/docs", &key, None).ok()["count"],
        999
    );

    // Drop.
    server.call("DELETE", "/v1/collections/docs", &key, None).ok();
    let missing = server.call("GET", "/v1/collections/docs", &key, None);
    assert_eq!((missing.status, missing.error_code()), (404, "collection_not_found"));
}

/// Exact search (`index: none`) under each metric, answered by pgvector
/// (hot copies off, every answer asserted to come from the origin), then by
/// the edge's hot copies (every answer after the copy is loaded asserted to
/// come from the edge): both give the exact top 25 in order.
#[test]
fn exact_search_without_index_and_l2_and_dot() {
    let db = TestDb::new("exact");
    let key = db.key("acme");
    let mut rng = rng(11);
    let vectors: Vec<Vec<f32>> = (0..300)
        .map(|_| (0..64).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect();
    let ids: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let body = upsert_body(&ids, &vectors, &["x"]);
    let neg_l2 = |a: &[f32], b: &[f32]| -l2(a, b);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>();
    let cases: [(&str, Score); 3] = [("cosine", cosine), ("l2", neg_l2), ("dot", dot)];
    for (answered_by, flags) in [
        ("origin", &["--migrate", "--hot-collection-max-vectors", "0"][..]),
        (
            "edge",
            &["--migrate", "--edge-shards", "1", "--edge-instances-per-shard", "1"][..],
        ),
    ] {
        let server = Server::start_with(&db.url, flags);
        for (metric, score) in cases {
            let name = format!("exact_{metric}_{answered_by}");
            server
                .call(
                    "PUT",
                    &format!("/v1/collections/{name}"),
                    &key,
                    Some(&json!({"dims": 64, "metric": metric, "index": "none"})),
                )
                .ok();
            server
                .call("PUT", &format!("/v1/collections/{name}/vectors"), &key, Some(&body))
                .ok();
            for q in 0..10 {
                let query: Vec<f32> = (0..64).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
                let expected = exact_top_k(
                    ids.iter().map(String::as_str).zip(vectors.iter().map(Vec::as_slice)),
                    &query,
                    25,
                    score,
                );
                let found = server
                    .call(
                        "POST",
                        &format!("/v1/collections/{name}/search"),
                        &key,
                        Some(&json!({"vector": query, "k": 25})),
                    )
                    .ok();
                // The hot copy is loaded on the second search.
                if answered_by == "origin" || q >= 2 {
                    assert_eq!(found["source"], answered_by, "{metric} query {q}");
                }
                let expected_ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
                assert_eq!(hit_ids(&found), expected_ids, "{metric} query {q}: exact order");
                // Scores: cosine similarity, L2 distance, inner product.
                for (hit, (_, s)) in found["hits"].as_array().unwrap().iter().zip(&expected) {
                    let want = if metric == "l2" { -s } else { *s };
                    assert!(
                        (hit["score"].as_f64().unwrap() - want).abs() < 1e-4,
                        "{metric}: {hit} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn memory_records() {
    let db = TestDb::new("memory");
    let key = db.key("agents");
    let server = Server::start(&db.url);
    let mut rng = rng(3);
    let mut stored = Vec::new();
    for i in 0..30 {
        let embedding: Vec<f32> = (0..32).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let session = if i % 3 == 0 { "s-1" } else { "s-2" };
        let record = server
            .call(
                "POST",
                "/v1/memory",
                &key,
                Some(
                    &json!({"session_id": session, "role": "user", "content": format!("note {i}"),
                             "embedding": embedding, "metadata": {"i": i}}),
                ),
            )
            .ok();
        assert!(!record["id"].as_str().unwrap().is_empty());
        assert_eq!(record["content"], format!("note {i}"));
        stored.push((record["id"].as_str().unwrap().to_string(), session, embedding));
    }
    let (id, _, embedding) = &stored[4];
    let got = server.call("GET", &format!("/v1/memory/{id}"), &key, None).ok();
    assert_eq!(got["content"], "note 4");
    assert_eq!(
        serde_json::from_value::<Vec<f32>>(got["embedding"].clone()).unwrap(),
        *embedding
    );

    // Search within a session, and across the project, against brute force.
    let query: Vec<f32> = (0..32).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    for session in [Some("s-1"), None] {
        let candidates = stored
            .iter()
            .filter(|(_, s, _)| session.is_none_or(|want| *s == want))
            .map(|(id, _, e)| (id.as_str(), e.as_slice()));
        let expected: Vec<String> = exact_top_k(candidates, &query, 5, cosine)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut body = json!({"embedding": query, "k": 5});
        if let Some(session) = session {
            body["session_id"] = json!(session);
        }
        let found = server.call("POST", "/v1/memory/search", &key, Some(&body)).ok();
        assert_eq!(hit_ids(&found), expected, "session {session:?}");
        for hit in found["hits"].as_array().unwrap() {
            assert!(session.is_none_or(|want| hit["session_id"] == want));
        }
    }

    // Delete.
    server.call("DELETE", &format!("/v1/memory/{id}"), &key, None).ok();
    assert_eq!(server.call("GET", &format!("/v1/memory/{id}"), &key, None).status, 404);
    // Another project cannot see the records.
    let other = db.key("other");
    let (id, _, _) = &stored[5];
    assert_eq!(
        server.call("GET", &format!("/v1/memory/{id}"), &other, None).status,
        404
    );
    // The other project's own record (of the same dimension) is all it finds.
    let own = server
        .call(
            "POST",
            "/v1/memory",
            &other,
            Some(&json!({"session_id": "s", "role": "user", "content": "theirs", "embedding": query})),
        )
        .ok();
    let found = server
        .call(
            "POST",
            "/v1/memory/search",
            &other,
            Some(&json!({"embedding": query, "k": 5})),
        )
        .ok();
    let ids: Vec<&Value> = found["hits"].as_array().unwrap().iter().map(|h| &h["id"]).collect();
    assert_eq!(ids, vec![&own["id"]]);
}

/// `GET …/vectors?after=&limit=` pages through a collection in id order
/// until `next` is null; every answer carries `server-timing`; memory
/// content past 256 KiB is 413 `text_too_large`.
#[test]
fn listing_pages_in_id_order_and_answers_carry_server_timing() {
    let db = TestDb::new("listing");
    let key = db.key("acme");
    let server = Server::start(&db.url);
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 2})))
        .ok();
    let mut ids: Vec<String> = (0..250).map(|i| format!("id-{i}")).collect();
    let body: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"id": id, "values": [1.0, i as f32], "metadata": {"i": i}}))
        .collect();
    let written = server
        .call(
            "PUT",
            "/v1/collections/docs/vectors",
            &key,
            Some(&json!({"vectors": body})),
        )
        .ok();
    ids.sort();
    let (mut listed, mut after, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let path = format!("/v1/collections/docs/vectors?limit=100{after}");
        let reply = server.call("GET", &path, &key, None);
        let timing = reply.server_timing.clone().unwrap_or_default();
        assert!(timing.contains("edge;dur="), "server-timing: {timing:?}");
        let page = reply.ok();
        assert_eq!(page["version"], written["version"]);
        let vectors = page["vectors"].as_array().unwrap();
        assert!(vectors.len() <= 100);
        for v in vectors {
            let i = v["metadata"]["i"].as_u64().unwrap();
            assert_eq!(v["values"], json!([1.0, i as f64]), "{v}");
            listed.push(v["id"].as_str().unwrap().to_string());
        }
        pages += 1;
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(listed, ids, "every vector once, in id order");
    let long = "x".repeat(256 * 1024 + 1);
    let memory = json!({"session_id": "s", "role": "user", "content": long, "embedding": vec![0.5f32; 1536]});
    let reply = server.call("POST", "/v1/memory", &key, Some(&memory));
    assert_eq!((reply.status, reply.error_code()), (413, "text_too_large"));
}

/// A body of exactly 32 MiB is read and answered; one byte more is 413.
#[test]
fn bodies_up_to_32_mib_are_accepted() {
    let db = TestDb::new("body_limit");
    let key = db.key("acme");
    let server = Server::start(&db.url);
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 2})))
        .ok();
    let limit = 32 << 20;
    let json = json!({"vectors": [{"id": "a", "values": [1.0, 0.0]}]}).to_string();
    for (size, status) in [(limit, 200), (limit + 1, 413)] {
        // Whitespace is valid JSON padding.
        let mut body = json.clone().into_bytes();
        body.resize(size, b' ');
        let reply = server.send("PUT", "/v1/collections/docs/vectors", Some(&key), Some(body));
        assert_eq!(reply.status, status, "{size} bytes: {}", reply.json);
    }
}

/// Writers to one collection do not wait for each other: with one writer
/// stuck on a row lock the test holds, another writer's upsert to the same
/// collection is acknowledged.
#[test]
fn writers_to_one_collection_run_concurrently() {
    let db = TestDb::new("key_share");
    let key = db.key("acme");
    let server = Server::start(&db.url);
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 2})))
        .ok();
    let upsert = |id: &str| {
        let body = json!({"vectors": [{"id": id, "values": [1.0, 0.0]}]});
        server.call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
    };
    upsert("stuck").ok();
    let table: i64 = db
        .client()
        .query_one("SELECT id FROM zerodb.collections WHERE name = 'docs'", &[])
        .unwrap()
        .get(0);
    let mut admin = db.client();
    let mut lock = admin.transaction().unwrap();
    lock.batch_execute(&format!(
        "SELECT 1 FROM zerodb_data.c{table} WHERE id = 'stuck' FOR UPDATE"
    ))
    .unwrap();
    let (stuck, free) = std::thread::scope(|scope| {
        let stuck = scope.spawn(|| upsert("stuck"));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let free = upsert("free");
        assert!(!stuck.is_finished(), "the row lock did not hold the first writer");
        lock.rollback().unwrap();
        (stuck.join().unwrap(), free)
    });
    let (stuck, free) = (stuck.ok(), free.ok());
    assert_ne!(stuck["version"], free["version"]);
}

/// One request over its own connection, its body sent with a
/// `content-length` (so the host reads it whole and calls the component's
/// `zerodb:edge/front`) or in chunks with none (so it streams into the
/// component's `wasi:http/handler`); the answer's status, `x-zerodb-cache`
/// and body.
fn raw_call(server: &Server, key: &str, method: &str, path: &str, body: &str, chunked: bool) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    let framing = if chunked {
        "transfer-encoding: chunked".to_string()
    } else {
        format!("content-length: {}", body.len())
    };
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: edge\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    if chunked {
        // Two chunks, so the body really arrives in pieces.
        let (head, tail) = body.split_at(body.len() / 2);
        for chunk in [head, tail].into_iter().filter(|c| !c.is_empty()) {
            request.extend(format!("{:x}\r\n{chunk}\r\n", chunk.len()).into_bytes());
        }
        request.extend(b"0\r\n\r\n");
    } else {
        request.extend(body.as_bytes());
    }
    conn.write_all(&request).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let cache = head
        .lines()
        .find_map(|l| l.strip_prefix("x-zerodb-cache: "))
        .unwrap_or_default()
        .to_string();
    (status, cache, body.to_string())
}

/// The host reads a request with a small declared body whole and hands it
/// to the component in one call (`zerodb:edge/front`); one whose body
/// streams goes through `wasi:http/handler`. Both give the same answers:
/// the same writes, hits and errors.
#[test]
fn a_request_read_whole_and_one_streamed_get_the_same_answers() {
    let db = TestDb::new("api_front_exports");
    let key = db.key("acme");
    // One instance, so that every search meets the same cache.
    let server = Server::start_with(
        &db.url,
        &["--migrate", "--edge-shards", "1", "--edge-instances-per-shard", "1"],
    );
    server
        .call(
            "PUT",
            "/v1/collections/docs",
            &key,
            Some(&json!({"dims": 2, "index": "none"})),
        )
        .ok();
    let counted = |export: &str| server.metric(&format!("zerodb_edge_requests_total{{export=\"{export}\"}}"));
    let (front, streamed) = (counted("front"), counted("wasi_http"));

    // A write whose body streams is stored and read back whole.
    let upsert = r#"{"vectors":[{"id":"a","values":[1,0]},{"id":"b","values":[0.6,0.8]}]}"#;
    let (status, _, body) = raw_call(&server, &key, "PUT", "/v1/collections/docs/vectors", upsert, true);
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = raw_call(&server, &key, "GET", "/v1/collections/docs/vectors/b", "", false);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["values"],
        json!([0.6, 0.8])
    );

    // A search answered whole, then the same bytes streamed: the streamed
    // one is the same hit, byte for byte.
    let search = r#"{"vector":[1,0.1],"k":2}"#;
    let path = "/v1/collections/docs/search";
    let (status, cache, missed) = raw_call(&server, &key, "POST", path, search, false);
    assert_eq!((status, cache.as_str()), (200, "miss"), "{missed}");
    let whole = raw_call(&server, &key, "POST", path, search, false);
    let streamed_hit = raw_call(&server, &key, "POST", path, search, true);
    assert_eq!(whole.1, "hit", "{}", whole.2);
    assert_eq!(streamed_hit, whole);
    let hits: Value = serde_json::from_str(&whole.2).unwrap();
    let ids: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);

    // The same bad body gets the same JSON error either way.
    let bad = r#"{"vector":[1,"#;
    let whole = raw_call(&server, &key, "POST", path, bad, false);
    let streamed_bad = raw_call(&server, &key, "POST", path, bad, true);
    assert_eq!(whole.0, 400, "{}", whole.2);
    assert_eq!(streamed_bad, whole);
    assert_eq!(
        serde_json::from_str::<Value>(&whole.2).unwrap()["error"]["code"],
        "malformed_json"
    );

    // Each request went the way its framing says.
    assert_eq!(counted("front") - front, 4.0, "requests read whole");
    assert_eq!(counted("wasi_http") - streamed, 3.0, "requests streamed");
}
