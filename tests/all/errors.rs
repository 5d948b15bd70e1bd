//! Bad input: each request gets the documented status and error code as
//! JSON, and nothing brings the server down.

use crate::harness::*;
use serde_json::json;

fn vector(dims: usize) -> Vec<f32> {
    (0..dims).map(|i| (i as f32 + 1.0) / dims as f32).collect()
}

/// (what, method, path, key, body, expected status, expected code)
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<Vec<u8>>,
    u16,
    &'a str,
);

#[test]
fn bad_requests_get_clear_errors() {
    let db = TestDb::new("errors");
    let key = db.key("acme");
    let other_key = db.key("globex");
    let server = Server::start(&db.url);
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 4})))
        .ok();
    server
        .call("PUT", "/v1/collections/secret", &other_key, Some(&json!({"dims": 4})))
        .ok();
    server
        .call(
            "PUT",
            "/v1/collections/docs/vectors",
            &key,
            Some(&json!({"vectors": [{"id": "a", "values": vector(4)}]})),
        )
        .ok();

    let batch_1001: Vec<_> = (0..1001)
        .map(|i| json!({"id": format!("v{i}"), "values": vector(4)}))
        .collect();
    let oversized = vec![b' '; 33 * 1024 * 1024];
    let search = |body: &str| Some(body.as_bytes().to_vec());
    let k = Some(key.as_str());
    let long_name = format!("/v1/collections/{}", "a".repeat(65));
    let long_id = format!("/v1/collections/docs/vectors/{}", "x".repeat(129));
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("malformed JSON", "POST", "/v1/collections/docs/search", k, search("{\"vector\": [1,2"), 400, "malformed_json"),
        ("not JSON at all", "PUT", "/v1/collections/docs/vectors", k, search("hello"), 400, "malformed_json"),
        ("empty body", "POST", "/v1/collections/docs/search", k, None, 400, "malformed_json"),
        ("wrong field type", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":"abc"}"#), 400, "invalid_request"),
        ("unknown field", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,2,3,4],"kk":3}"#), 400, "invalid_request"),
        ("wrong dims in search", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,2,3]}"#), 422, "dimension_mismatch"),
        ("wrong dims in upsert", "PUT", "/v1/collections/docs/vectors", k, search(r#"{"vectors":[{"id":"x","values":[1,2]}]}"#), 422, "dimension_mismatch"),
        ("mixed dims in a batch", "PUT", "/v1/collections/docs/vectors", k, search(r#"{"vectors":[{"id":"x","values":[1,2,3,4]},{"id":"y","values":[1,2]}]}"#), 422, "dimension_mismatch"),
        ("NaN literal", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,NaN,3,4]}"#), 422, "invalid_vector"),
        ("Infinity literal", "PUT", "/v1/collections/docs/vectors", k, search(r#"{"vectors":[{"id":"x","values":[1,2,3,Infinity]}]}"#), 422, "invalid_vector"),
        ("overflowing f32", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,2,3,1e39]}"#), 422, "invalid_vector"),
        ("empty vector", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[]}"#), 422, "invalid_vector"),
        ("k = 0", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,2,3,4],"k":0}"#), 422, "invalid_k"),
        ("k > 1000", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,2,3,4],"k":1001}"#), 422, "invalid_k"),
        ("negative k", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,2,3,4],"k":-5}"#), 422, "invalid_k"),
        ("batch of 1001", "PUT", "/v1/collections/docs/vectors", k, Some(json!({"vectors": batch_1001}).to_string().into_bytes()), 413, "batch_too_large"),
        ("empty batch", "PUT", "/v1/collections/docs/vectors", k, search(r#"{"vectors":[]}"#), 422, "empty_batch"),
        ("oversized body", "PUT", "/v1/collections/docs/vectors", k, Some(oversized), 413, "body_too_large"),
        ("bad collection name", "PUT", "/v1/collections/bad%20name", k, None, 400, "invalid_name"),
        ("SQL in collection name", "GET", "/v1/collections/docs%3Bdrop%20table%20x", k, None, 400, "invalid_name"),
        ("too long collection name", "GET", &long_name, k, None, 400, "invalid_name"),
        ("SQL in an id is just an id", "GET", "/v1/collections/docs/vectors/a'%20or%20'1'%3D'1", k, None, 404, "vector_not_found"),
        ("id over 128 bytes", "GET", &long_id, k, None, 400, "invalid_id"),
        ("control character in id", "GET", "/v1/collections/docs/vectors/a%00b", k, None, 400, "invalid_id"),
        ("NUL in metadata", "PUT", "/v1/collections/docs/vectors", k, search(r#"{"vectors":[{"id":"m","values":[1,2,3,4],"metadata":{"a":"x\u0000"}}]}"#), 422, "invalid_metadata"),
        ("metadata not an object", "PUT", "/v1/collections/docs/vectors", k, search(r#"{"vectors":[{"id":"m","values":[1,2,3,4],"metadata":[1]}]}"#), 422, "invalid_metadata"),
        ("unknown filter operator", "POST", "/v1/collections/docs/search", k, search(r#"{"vector":[1,2,3,4],"filter":{"a":{"$regex":"x"}}}"#), 422, "invalid_filter"),
        ("dims 0", "PUT", "/v1/collections/zero", k, search(r#"{"dims":0}"#), 422, "invalid_dims"),
        ("dims 16001", "PUT", "/v1/collections/huge", k, search(r#"{"dims":16001}"#), 422, "invalid_dims"),
        ("HNSW past pgvector's limit", "PUT", "/v1/collections/wide", k, search(r#"{"dims":5000,"index":"hnsw"}"#), 422, "dims_exceed_index_limit"),
        ("unknown metric", "PUT", "/v1/collections/m", k, search(r#"{"metric":"manhattan"}"#), 400, "invalid_request"),
        ("missing key", "GET", "/v1/collections/docs", None, None, 401, "missing_api_key"),
        ("wrong key", "GET", "/v1/collections/docs", Some("zdb_0000000000000000000000000000000000000000000000000000000000000000"), None, 401, "invalid_api_key"),
        ("garbage key", "GET", "/v1/collections/docs", Some("' OR 1=1 --"), None, 401, "invalid_api_key"),
        ("another project's collection", "GET", "/v1/collections/secret", k, None, 404, "collection_not_found"),
        ("another project's collection, search", "POST", "/v1/collections/secret/search", k, search(r#"{"vector":[1,2,3,4]}"#), 404, "collection_not_found"),
        ("another project's collection, drop", "DELETE", "/v1/collections/secret", k, None, 404, "collection_not_found"),
        ("unknown route", "GET", "/v1/nothing", k, None, 404, "no_route"),
        ("wrong method", "PATCH", "/v1/collections/docs", k, None, 405, "method_not_allowed"),
        ("bad percent-encoding", "GET", "/v1/collections/%ZZ", k, None, 400, "invalid_path"),
    ];
    for (what, method, path, key, body, status, code) in cases {
        let reply = server.send(method, path, key, body);
        assert_eq!(
            (reply.status, reply.error_code()),
            (status, code),
            "{what}: {}",
            reply.json
        );
        assert!(
            reply.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message"
        );
    }
    // Nothing above was written or broke the server.
    let docs = server.call("GET", "/v1/collections/docs", &key, None).ok();
    assert_eq!(docs["count"], 1);
    let secret = server.call("GET", "/v1/collections/secret", &other_key, None).ok();
    assert_eq!(secret["count"], 0);
    assert_eq!(server.send("GET", "/healthz", None, None).status, 200);
}

/// An unreachable database: 503 with Retry-After within the connect
/// timeout, and once the probe has seen it down, answered by the breaker
/// without asking the pool for a connection at all.
#[test]
fn unreachable_database_is_a_fast_503() {
    // Nothing listens on port 1: every origin call fails to connect.
    let server = Server::start_with("postgres://postgres@127.0.0.1:1/none", &["--health-interval-ms", "200"]);
    let get = || {
        let reply = server.send("GET", "/v1/collections/docs", Some("zdb_x"), None);
        assert_eq!((reply.status, reply.error_code()), (503, "database_unavailable"));
        assert!(reply.retry_after.is_some(), "503 without Retry-After");
        assert!(reply.elapsed.as_secs_f64() < 3.0, "took {:?}", reply.elapsed);
    };
    get();
    let start = std::time::Instant::now();
    while server.metric("zerodb_health_up{service=\"postgres\"}") != 0.0 {
        assert!(
            start.elapsed().as_secs() < 10,
            "the probe never found the database down"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let acquisitions = server.metric("zerodb_db_pool_acquisitions_total");
    for _ in 0..3 {
        get();
    }
    assert_eq!(server.metric("zerodb_db_pool_acquisitions_total"), acquisitions);
    assert!(server.metric("zerodb_db_breaker_refusals_total") >= 3.0);
    assert_eq!(server.send("GET", "/healthz", None, None).status, 200);
}

/// Mutated and random requests: every answer is a 2xx or a JSON 4xx, never a
/// 5xx, and the server (host and component) keeps serving.
#[test]
fn garbage_never_breaks_the_server() {
    use rand::Rng;
    let db = TestDb::new("garbage");
    let key = db.key("acme");
    let server = Server::start(&db.url);
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 4})))
        .ok();
    let valid = [
        r#"{"vector":[0.1,0.2,0.3,0.4],"k":3,"filter":{"tag":"a"},"include_values":true}"#,
        r#"{"vectors":[{"id":"a","values":[1,2,3,4],"metadata":{"tag":"a","n":[1,{"x":null}]}}]}"#,
        r#"{"session_id":"s","role":"user","content":"hi","embedding":[1,2],"metadata":{}}"#,
        r#"{"dims":4,"metric":"cosine","index":"hnsw","cache_similarity":0.99}"#,
    ];
    let routes = [
        ("POST", "/v1/collections/docs/search"),
        ("PUT", "/v1/collections/docs/vectors"),
        ("POST", "/v1/memory"),
        ("POST", "/v1/memory/search"),
        ("PUT", "/v1/collections/docs"),
        ("GET", "/v1/collections/docs/vectors/%FF%FE"),
        ("DELETE", "/v1/collections/docs/vectors/a%2F..%2F.."),
        ("GET", "/v1/collections/docs/vectors?after=%00&limit=99999"),
        ("GET", "/v1/collections/docs/vectors?limit=-1"),
    ];
    let tokens: [&[u8]; 8] = [
        b"NaN",
        b"-1e999",
        b"\"\\u0000\"",
        b"[",
        b"}",
        b"null",
        b"9999999999999999999",
        b"\xff",
    ];
    let mut rng = rng(21);
    for round in 0..400 {
        let mut body = valid[rng.gen_range(0..valid.len())].as_bytes().to_vec();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..=body.len());
            match rng.gen_range(0..3) {
                0 => body.truncate(at),
                1 => body
                    .splice(at..at, tokens[rng.gen_range(0..tokens.len())].iter().copied())
                    .for_each(drop),
                _ => {
                    if at < body.len() {
                        body[at] = rng.gen();
                    }
                }
            }
        }
        let (method, path) = routes[round % routes.len()];
        let reply = server.send(method, path, Some(&key), Some(body.clone()));
        assert!(
            reply.status < 500,
            "round {round}: {method} {path} {:?} -> {} {}",
            String::from_utf8_lossy(&body),
            reply.status,
            reply.json
        );
        if reply.status >= 400 {
            assert!(
                reply.json["error"]["code"].is_string(),
                "round {round}: not a JSON error: {}",
                reply.json
            );
        }
    }
    assert_eq!(server.send("GET", "/healthz", None, None).status, 200);
    server.call("GET", "/v1/collections/docs", &key, None).ok();
}
