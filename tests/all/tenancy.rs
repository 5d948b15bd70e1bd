//! No route lets one project read, search, write or delete another's data,
//! including through the edge cache: both projects use the same collection
//! names, ids and request bodies, on one shard, so one instance's cache holds
//! both projects' entries.

use crate::harness::{hit_ids, Server, TestDb};
use serde_json::json;

#[test]
fn projects_never_see_each_other() {
    let db = TestDb::new("tenancy");
    let (a, b) = (db.key("tenant-a"), db.key("tenant-b"));
    let server = Server::start_with(&db.url, &["--migrate", "--edge-shards", "1"]);
    let put = |key: &str, path: &str, body: serde_json::Value| server.call("PUT", path, key, Some(&body)).ok();
    for (key, tag) in [(&a, "a"), (&b, "b")] {
        put(key, "/v1/collections/shared", json!({"dims": 3}));
        put(
            key,
            "/v1/collections/shared/vectors",
            json!({"vectors": [
                {"id": format!("{tag}-only"), "values": [1, 0, 0], "metadata": {"owner": tag}},
                {"id": "same-id", "values": if tag == "a" { [0, 1, 0] } else { [0, 0, 1] }, "metadata": {"owner": tag}}]}),
        );
        let memory = json!({"id": format!("{tag}-memory"), "session_id": "s", "role": "user", "content": tag, "embedding": [1, 0, 0]});
        server.call("POST", "/v1/memory", key, Some(&memory)).ok();
    }
    put(&a, "/v1/collections/private", json!({"dims": 3}));
    put(
        &a,
        "/v1/collections/private/vectors",
        json!({"vectors": [{"id": "p", "values": [1, 1, 1]}]}),
    );

    // The same search body, from both projects, each twice (the second from
    // the cache, then from a hot copy): each sees only its own vectors.
    let search = json!({"vector": [1, 0.1, 0.1], "k": 10});
    for _ in 0..3 {
        for (key, tag) in [(&a, "a"), (&b, "b")] {
            let found = server
                .call("POST", "/v1/collections/shared/search", key, Some(&search))
                .ok();
            let mut ids = hit_ids(&found);
            ids.sort();
            assert_eq!(ids, [format!("{tag}-only"), "same-id".to_string()]);
            for hit in found["hits"].as_array().unwrap() {
                assert_eq!(hit["metadata"]["owner"], tag, "{tag} saw {hit}");
            }
        }
    }
    for (key, values) in [(&a, json!([0.0, 1.0, 0.0])), (&b, json!([0.0, 0.0, 1.0]))] {
        for _ in 0..2 {
            let got = server
                .call("GET", "/v1/collections/shared/vectors/same-id", key, None)
                .ok();
            assert_eq!(got["values"], values);
        }
    }

    // B reaching for A's things: never found, never changed.
    let refused = [
        ("GET", "/v1/collections/shared/vectors/a-only", None),
        ("DELETE", "/v1/collections/shared/vectors/a-only", None),
        ("GET", "/v1/collections/private", None),
        ("DELETE", "/v1/collections/private", None),
        ("GET", "/v1/collections/private/vectors", None),
        ("GET", "/v1/collections/private/vectors/p", None),
        ("DELETE", "/v1/collections/private/vectors/p", None),
        (
            "POST",
            "/v1/collections/private/search",
            Some(json!({"vector": [1, 1, 1]})),
        ),
        (
            "PUT",
            "/v1/collections/private/vectors",
            Some(json!({"vectors": [{"id": "x", "values": [1, 1, 1]}]})),
        ),
        ("GET", "/v1/memory/a-memory", None),
        ("DELETE", "/v1/memory/a-memory", None),
    ];
    for (method, path, body) in &refused {
        let reply = server.call(method, path, &b, body.as_ref());
        assert_eq!(reply.status, 404, "{method} {path} by another project: {}", reply.json);
    }
    let memories = server
        .call(
            "POST",
            "/v1/memory/search",
            &b,
            Some(&json!({"embedding": [1, 0, 0], "k": 10})),
        )
        .ok();
    let ids: Vec<&str> = memories["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b-memory"]);

    // A's data is intact.
    assert_eq!(server.call("GET", "/v1/collections/shared", &a, None).ok()["count"], 2);
    assert_eq!(server.call("GET", "/v1/collections/private", &a, None).ok()["count"], 1);
    server
        .call("GET", "/v1/collections/shared/vectors/a-only", &a, None)
        .ok();
    server.call("GET", "/v1/memory/a-memory", &a, None).ok();
    // B's write to its own `shared` leaves A's untouched, cached or not.
    put(
        &b,
        "/v1/collections/shared/vectors",
        json!({"vectors": [{"id": "same-id", "values": [1, 0, 0]}]}),
    );
    let got = server
        .call("GET", "/v1/collections/shared/vectors/same-id", &a, None)
        .ok();
    assert_eq!(got["values"], json!([0.0, 1.0, 0.0]));
}
