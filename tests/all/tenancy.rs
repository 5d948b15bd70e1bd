//! No route lets one project read, search, write or delete another's data,
//! including through the edge cache: both projects use the same collection
//! names, ids and request bodies, on one shard of one instance, so one
//! cache holds both projects' entries.

use crate::harness::{clients, hit_ids, Server, TestDb, CLIENTS};
use serde_json::json;

#[test]
fn projects_never_see_each_other() {
    let db = TestDb::new("tenancy");
    let (a, b) = (db.key("tenant-a"), db.key("tenant-b"));
    let args = ["--migrate", "--edge-shards", "1", "--edge-instances-per-shard", "1"];
    let server = Server::start_with(&db.url, &args);
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

    // The same search body, from both projects, each three times: first
    // from the origin, then from the edge (the cached result, then the hot
    // copy loaded on the second search): each sees only its own vectors.
    let search = json!({"vector": [1, 0.1, 0.1], "k": 10});
    for round in 0..3 {
        for (key, tag) in [(&a, "a"), (&b, "b")] {
            let reply = server.call("POST", "/v1/collections/shared/search", key, Some(&search));
            let expected = if round == 0 {
                ("miss", "origin")
            } else {
                ("hit", "edge")
            };
            assert_eq!(
                (reply.cache.as_deref(), reply.json["source"].as_str()),
                (Some(expected.0), Some(expected.1)),
                "{tag}, round {round}"
            );
            let found = reply.ok();
            let mut ids = hit_ids(&found);
            ids.sort();
            assert_eq!(ids, [format!("{tag}-only"), "same-id".to_string()]);
            for hit in found["hits"].as_array().unwrap() {
                assert_eq!(hit["metadata"]["owner"], tag, "{tag} saw {hit}");
            }
        }
    }
    assert_eq!(
        server.call("GET", "/v1/health", &a, None).ok()["edge"]["cache"]["hot_collections"],
        2,
        "each project's `shared` has a hot copy of its own"
    );
    for (key, values) in [(&a, json!([0.0, 1.0, 0.0])), (&b, json!([0.0, 0.0, 1.0]))] {
        let got = server.call("GET", "/v1/collections/shared/vectors/same-id", key, None);
        assert_eq!(got.cache.as_deref(), Some("hit"), "served by the hot copy");
        assert_eq!(got.ok()["values"], values);
    }

    // Both projects at once, 32 clients through the one instance.
    let hits: usize = clients(CLIENTS, |client| {
        let (key, tag, values) = match client % 2 {
            0 => (&a, "a", json!([0.0, 1.0, 0.0])),
            _ => (&b, "b", json!([0.0, 0.0, 1.0])),
        };
        let mut hits = 0;
        for _ in 0..5 {
            let reply = server.call("POST", "/v1/collections/shared/search", key, Some(&search));
            hits += usize::from(reply.cache.as_deref() == Some("hit"));
            for hit in reply.ok()["hits"].as_array().unwrap() {
                assert_eq!(hit["metadata"]["owner"], tag, "{tag} saw {hit}");
            }
            let got = server.call("GET", "/v1/collections/shared/vectors/same-id", key, None);
            hits += usize::from(got.cache.as_deref() == Some("hit"));
            assert_eq!(got.ok()["values"], values, "{tag}");
        }
        hits
    })
    .into_iter()
    .sum();
    assert_eq!(hits, CLIENTS * 10, "every concurrent read was a cache hit");

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
        let expected = if path.starts_with("/v1/memory") {
            ["memory_not_found"].as_slice()
        } else {
            ["collection_not_found", "vector_not_found"].as_slice()
        };
        assert!(
            expected.contains(&reply.error_code()),
            "{method} {path}: {}",
            reply.json
        );
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
