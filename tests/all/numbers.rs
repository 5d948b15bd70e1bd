//! Numbers travel exactly: vector values are rounded once to f32, vectors a
//! metric cannot score are refused, no score is ever `null`, metadata
//! numbers keep every digit, and the edge's filters give PostgreSQL's
//! `jsonb` answer (`filters`). Each case runs for an HNSW and an unindexed
//! collection, with the edge's cached answer and the database's (`strong`)
//! compared.

mod filters;
mod filters_random;

use crate::harness::{Reply, Server, TestDb};
use serde_json::{json, Value};

const INDEXES: [&str; 2] = ["hnsw", "none"];

fn create(server: &Server, key: &str, name: &str, spec: Value) {
    server
        .call("PUT", &format!("/v1/collections/{name}"), key, Some(&spec))
        .ok();
}

/// Sends a raw JSON body (its numbers exactly as written).
fn send(server: &Server, method: &str, path: &str, key: &str, body: &str) -> Reply {
    server.send(method, path, Some(key), Some(body.as_bytes().to_vec()))
}

/// Upserts into collection `name` the raw JSON `body`.
fn upsert(server: &Server, key: &str, name: &str, body: &str) -> Reply {
    send(server, "PUT", &format!("/v1/collections/{name}/vectors"), key, body)
}

/// The answer is a 422 with `code`, and its message names `reason`.
#[track_caller]
fn assert_refused(reply: &Reply, code: &str, reason: &str) {
    assert_eq!((reply.status, reply.error_code()), (422, code), "{}", reply.json);
    let message = reply.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(reason), "{message:?} does not say {reason:?}");
}

/// Every score of a search answer is a finite number.
#[track_caller]
fn assert_scores_finite(reply: &Reply) {
    for hit in reply.json["hits"].as_array().unwrap() {
        assert!(
            hit["score"].as_f64().is_some_and(f64::is_finite),
            "score is not a finite number: {hit}"
        );
    }
}

/// A search, answered by the edge (a repeat, so from its cache or hot copy)
/// and by the database (`strong`): both must be the same answer. Returns the
/// answer and whether the edge answered the very first eventual request (no
/// result of it was cached yet, so a hot copy answered).
fn both_ways_first(server: &Server, key: &str, name: &str, body: &str) -> (Value, bool) {
    let path = format!("/v1/collections/{name}/search");
    let strong_body = format!("{},\"consistency\":\"strong\"}}", &body[..body.len() - 1]);
    let strong = send(server, "POST", &path, key, &strong_body);
    assert_eq!(strong.status, 200, "{}", strong.json);
    // A repeat reaches the instance that cached the answer within a few
    // tries (the host may pick another idle instance first).
    let (tries, cached) = (1..=8)
        .map(|n| (n, send(server, "POST", &path, key, body)))
        .find(|(_, r)| r.status != 200 || r.cache.as_deref() == Some("hit"))
        .expect("no repeat was answered by the edge");
    assert_eq!(cached.status, 200, "{}", cached.json);
    assert_scores_finite(&strong);
    assert_scores_finite(&cached);
    let ids = |r: &Reply| -> Vec<Value> {
        r.json["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].clone())
            .collect()
    };
    assert_eq!(ids(&cached), ids(&strong), "edge and database disagree on {body}");
    for (a, b) in cached.json["hits"]
        .as_array()
        .unwrap()
        .iter()
        .zip(strong.json["hits"].as_array().unwrap())
    {
        assert!(
            (a["score"].as_f64().unwrap() - b["score"].as_f64().unwrap()).abs() < 1e-5,
            "{a} vs {b}"
        );
        assert_eq!(a["metadata"], b["metadata"]);
    }
    (strong.json, tries == 1)
}

fn both_ways(server: &Server, key: &str, name: &str, body: &str) -> Value {
    both_ways_first(server, key, name, body).0
}

#[test]
fn a_cosine_collection_refuses_zero_vectors_and_never_scores_null() {
    let db = TestDb::new("numbers_zero");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    for index in INDEXES {
        let name = format!("zero_{index}");
        create(
            &server,
            &key,
            &name,
            json!({"dims": 4, "metric": "cosine", "index": index}),
        );
        for zero in ["[0,0,0,0]", "[1e-30,1e-30,0,0]"] {
            let reply = upsert(
                &server,
                &key,
                &name,
                &format!(r#"{{"vectors":[{{"id":"z","values":{zero}}}]}}"#),
            );
            assert_refused(&reply, "invalid_vector", "zero vector");
        }
        upsert(
            &server,
            &key,
            &name,
            r#"{"vectors":[{"id":"a","values":[1,0,0,0]},{"id":"b","values":[0,1,0,0]}]}"#,
        )
        .ok();
        let search = format!("/v1/collections/{name}/search");
        let zero_query = send(&server, "POST", &search, &key, r#"{"vector":[0,0,0,0],"k":4}"#);
        assert_refused(&zero_query, "invalid_vector", "zero vector");
        let answer = both_ways(&server, &key, &name, r#"{"vector":[1,0,0,0],"k":4}"#);
        assert_eq!(answer["hits"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn l2_distances_never_overflow_to_null() {
    let db = TestDb::new("numbers_l2");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    for index in INDEXES {
        let name = format!("far_{index}");
        create(&server, &key, &name, json!({"dims": 2, "metric": "l2", "index": index}));
        upsert(&server, &key, &name, r#"{"vectors":[{"id":"unit","values":[1,0]}]}"#).ok();
        // Their squared norms overflow pgvector's f32 sums: refused.
        for far in ["[1e20,1e19]", "[1e20,2e19]"] {
            let reply = upsert(
                &server,
                &key,
                &name,
                &format!(r#"{{"vectors":[{{"id":"far","values":{far}}}]}}"#),
            );
            assert_refused(&reply, "invalid_vector", "overflows");
        }
        // The largest that still scores: every distance stays finite.
        upsert(
            &server,
            &key,
            &name,
            r#"{"vectors":[{"id":"big","values":[9e18,0]},{"id":"neg","values":[-9e18,0]}]}"#,
        )
        .ok();
        let query = send(
            &server,
            "POST",
            &format!("/v1/collections/{name}/search"),
            &key,
            r#"{"vector":[1e20,0]}"#,
        );
        assert_refused(&query, "invalid_vector", "overflows");
        let answer = both_ways(&server, &key, &name, r#"{"vector":[0,0],"k":3}"#);
        assert_eq!(answer["hits"][0]["id"], "unit");
        let far = both_ways(&server, &key, &name, r#"{"vector":[-9e18,0],"k":3}"#);
        assert!(
            (far["hits"][2]["score"].as_f64().unwrap() - 1.8e19).abs() < 1e13,
            "{far}"
        );
    }
}

#[test]
fn decimals_are_rounded_once_to_f32() {
    let db = TestDb::new("numbers_f32");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    for index in INDEXES {
        let name = format!("exact_{index}");
        create(&server, &key, &name, json!({"dims": 3, "metric": "l2", "index": index}));
        upsert(
            &server,
            &key,
            &name,
            r#"{"vectors":[{"id":"x","values":[1.00000017881393432617187499, -0.0, 1e-40]}]}"#,
        )
        .ok();
        let table: i64 = db
            .client()
            .query_one("SELECT id FROM zerodb.collections WHERE name = $1", &[&name])
            .unwrap()
            .get(0);
        let stored: Vec<f32> = db
            .client()
            .query_one(
                &format!("SELECT embedding::real[] FROM zerodb_data.c{table} WHERE id = 'x'"),
                &[],
            )
            .unwrap()
            .get(0);
        let bits: Vec<u32> = stored.iter().map(|v| v.to_bits()).collect();
        // Once: 0x3F800001 (through f64 it was 0x3F800002); -0; a subnormal kept.
        assert_eq!(bits, vec![0x3F80_0001, (-0.0f32).to_bits(), 1e-40_f32.to_bits()]);
        // Read back through the edge (a miss, then a hit): the same bits.
        for _ in 0..2 {
            let reply = server
                .call("GET", &format!("/v1/collections/{name}/vectors/x"), &key, None)
                .ok();
            let values: Vec<f32> = serde_json::from_value(reply["values"].clone()).unwrap();
            assert_eq!(values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), bits);
        }
        // f32::MAX reads as a number, but no metric can score its square;
        // past it, the value itself is refused.
        for (value, reason) in [("3.4028235e38", "squared norm"), ("3.5e38", "overflows f32")] {
            let reply = upsert(
                &server,
                &key,
                &name,
                &format!(r#"{{"vectors":[{{"id":"y","values":[{value}, 0, 0]}}]}}"#),
            );
            assert_refused(&reply, "invalid_vector", reason);
        }
    }
}

const EXACT: &str = r#"{"huge": 18446744073709551617, "neg": -9223372036854775809, "tenth": 0.1, "two": 2.0}"#;

#[test]
fn metadata_numbers_keep_every_digit() {
    let db = TestDb::new("numbers_meta");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    for index in INDEXES {
        let name = format!("meta_{index}");
        create(
            &server,
            &key,
            &name,
            json!({"dims": 2, "metric": "cosine", "index": index}),
        );
        upsert(
            &server,
            &key,
            &name,
            &format!(r#"{{"vectors":[{{"id":"m","values":[1,0],"metadata":{EXACT}}},{{"id":"o","values":[0,1]}}]}}"#),
        )
        .ok();
        let expected: Value = serde_json::from_str(EXACT).unwrap();
        for _ in 0..2 {
            let reply = server
                .call("GET", &format!("/v1/collections/{name}/vectors/m"), &key, None)
                .ok();
            assert_eq!(reply["metadata"]["huge"].to_string(), "18446744073709551617");
            assert_eq!(reply["metadata"]["neg"].to_string(), "-9223372036854775809");
            assert_eq!(reply["metadata"]["tenth"].to_string(), "0.1");
        }
        let answer = both_ways(&server, &key, &name, r#"{"vector":[1,0],"k":2}"#);
        assert_eq!(answer["hits"][0]["metadata"], expected);
        // Filters compare numbers exactly, at the edge and in the database.
        let matched = both_ways(
            &server,
            &key,
            &name,
            r#"{"vector":[1,0],"k":2,"filter":{"huge":18446744073709551617,"two":2}}"#,
        );
        assert_eq!(matched["hits"].as_array().unwrap().len(), 1);
        // A number jsonb cannot store is refused, not a 500.
        let past = upsert(
            &server,
            &key,
            &name,
            r#"{"vectors":[{"id":"p","values":[1,1],"metadata":{"x":1e131072}}]}"#,
        );
        assert_refused(&past, "invalid_metadata", "jsonb cannot store");
        let past = send(
            &server,
            "POST",
            &format!("/v1/collections/{name}/search"),
            &key,
            r#"{"vector":[1,0],"filter":{"x":1e-16384}}"#,
        );
        assert_refused(&past, "invalid_filter", "jsonb cannot store");
        let off_by_one = both_ways(
            &server,
            &key,
            &name,
            r#"{"vector":[1,0],"k":2,"filter":{"huge":18446744073709551616}}"#,
        );
        assert!(off_by_one["hits"].as_array().unwrap().is_empty(), "{off_by_one}");
    }
}

#[test]
fn memory_records_have_one_declared_dimension_per_project() {
    let db = TestDb::new("numbers_memory");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    // Before any record, the declared dimension is the default, 1536.
    let early = server.call("POST", "/v1/memory/search", &key, Some(&json!({"embedding": [1]})));
    assert_refused(&early, "dimension_mismatch", "have 1536");
    let record = |embedding: Value| json!({"session_id": "s", "role": "user", "content": "c", "embedding": embedding});
    server
        .call("POST", "/v1/memory", &key, Some(&record(json!([1, 0, 0]))))
        .ok();
    for reply in [
        server.call("POST", "/v1/memory", &key, Some(&record(json!([1, 0])))),
        server.call("POST", "/v1/memory/search", &key, Some(&json!({"embedding": [1]}))),
    ] {
        assert_refused(&reply, "dimension_mismatch", "have 3");
    }
    let found = server
        .call(
            "POST",
            "/v1/memory/search",
            &key,
            Some(&json!({"embedding": [1, 0, 0]})),
        )
        .ok();
    assert_eq!(found["hits"].as_array().unwrap().len(), 1);
    let zero = server.call(
        "POST",
        "/v1/memory/search",
        &key,
        Some(&json!({"embedding": [0, 0, 0]})),
    );
    assert_refused(&zero, "invalid_vector", "zero vector");
    // Another project declares its own.
    let other = db.key("numbers_other");
    server
        .call("POST", "/v1/memory", &other, Some(&record(json!([1, 0]))))
        .ok();
    // Configured, the dimension holds for every project that declared none.
    drop(server);
    let server = Server::start_with(&db.url, &["--memory-dims", "4"]);
    let third = db.key("numbers_third");
    for reply in [
        server.call("POST", "/v1/memory/search", &third, Some(&json!({"embedding": [1, 0]}))),
        server.call("POST", "/v1/memory", &third, Some(&record(json!([1, 0])))),
    ] {
        assert_refused(&reply, "dimension_mismatch", "have 4");
    }
    server
        .call("POST", "/v1/memory", &third, Some(&record(json!([1, 0, 0, 0]))))
        .ok();
    // A project that declared its dimension keeps it.
    server
        .call("POST", "/v1/memory", &other, Some(&record(json!([0, 1]))))
        .ok();
}
