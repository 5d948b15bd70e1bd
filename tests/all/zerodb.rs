//! ZeroDB's own API at the edge: every route under each of its prefixes,
//! with either auth header; the request aliases ZeroDB's clients send; its
//! error statuses and bodies; isolation between projects and namespaces;
//! and one cache and one store under both dialects.

use crate::harness::*;
use serde_json::{json, Value};

const DIMS: usize = 384;

/// The three prefixes of a project's routes.
const PREFIXES: [&str; 3] = ["/api/v1/projects", "/v1/projects", "/v1/public"];

/// How a request carries the key.
#[derive(Clone, Copy, Debug)]
enum Auth {
    ApiKey,
    Bearer,
}

/// A ZeroDB client of one project through one prefix and one auth header.
struct Client<'a> {
    server: &'a Server,
    key: String,
    base: String,
    auth: Auth,
}

impl Client<'_> {
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.raw(method, &format!("{}/{path}", self.base), body)
    }

    fn raw(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| b.to_string().into_bytes());
        match self.auth {
            Auth::ApiKey => self
                .server
                .send_with(method, path, None, body, &[("x-api-key", &self.key)]),
            Auth::Bearer => self.server.send(method, path, Some(&self.key), body),
        }
    }
}

fn setup(tag: &str) -> (TestDb, Server, String, String) {
    let db = TestDb::new(tag);
    let key = db.key("acme");
    let uuid = db.project_uuid("acme");
    let server = Server::start_with(&db.url, &["--migrate"]);
    (db, server, key, uuid)
}

fn detail(reply: &Reply) -> &str {
    reply.json["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail string: {}", reply.json))
}

/// Every route through one prefix and auth header, each answer's shape
/// checked, in namespace `ns`.
fn scenario(client: &Client, project: &str, ns: &str, vectors: &[Vec<f32>]) {
    // One upsert, with the current field names.
    let one = client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(
                &json!({"vector_embedding": vectors[0], "vector_id": "a", "namespace": ns,
                "vector_metadata": {"lang": "en", "n": 1}, "document": "first text", "source": "unit"}),
            ),
        )
        .ok();
    assert_eq!(one["vector_id"], "a");
    assert_eq!(one["project_id"], project);
    assert_eq!(one["namespace"], ns);
    assert_eq!(one["vector_metadata"], json!({"lang": "en", "n": 1}));
    assert_eq!(
        (one["document"].as_str(), one["source"].as_str()),
        (Some("first text"), Some("unit"))
    );
    assert_eq!(one["vector_embedding"].as_array().unwrap().len(), DIMS);
    let created = one["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 27, "{created}");

    // A batch as a bare array (one without an id gets a UUID), then wrapped.
    let bare: Vec<Value> = (1..4)
        .map(|i| {
            json!({"vector_embedding": vectors[i], "vector_id": format!("b{i}"), "namespace": ns,
            "vector_metadata": {"n": i}})
        })
        .chain([json!({"vector_embedding": vectors[4], "namespace": ns, "document": "no id"})])
        .collect();
    let batch = client
        .send("POST", "database/vectors/upsert-batch", Some(&json!(bare)))
        .ok();
    assert_eq!(
        (batch["success_count"].as_u64(), batch["error_count"].as_u64()),
        (Some(4), Some(0))
    );
    assert!(batch["total_time_ms"].is_f64(), "{batch}");
    let wrapped = json!({"vectors": [{"vector_embedding": vectors[5], "vector_id": "c5", "namespace": ns},
        {"vector_embedding": [1.0, 2.0], "vector_id": "short", "namespace": ns}]});
    let batch = client
        .send("POST", "database/vectors/upsert-batch", Some(&wrapped))
        .ok();
    assert_eq!(
        (batch["success_count"].as_u64(), batch["error_count"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(batch["errors"][0].as_str().unwrap().contains("dimensions"), "{batch}");

    // Search: the nearest is the query itself, similarity ~1, best first.
    let found = client
        .send(
            "POST",
            "database/vectors/search",
            Some(&json!({"query_vector": vectors[2], "limit": 3, "namespace": ns})),
        )
        .ok();
    let hits = found["vectors"].as_array().unwrap();
    assert_eq!((hits.len(), found["total_count"].as_u64()), (3, Some(3)));
    assert_eq!(hits[0]["vector_id"], "b2");
    assert!((hits[0]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-4);
    assert!(hits
        .windows(2)
        .all(|w| w[0]["similarity"].as_f64() >= w[1]["similarity"].as_f64()));
    assert_eq!(hits[0]["vector_metadata"], json!({"n": 2}));
    assert_eq!(hits[0]["namespace"], ns);
    assert!(found["search_time_ms"].as_f64().is_some());
    // With a filter on the metadata.
    let filtered = client
        .send(
            "POST",
            "database/vectors/search",
            Some(&json!({"query_vector": vectors[2], "limit": 10, "namespace": ns, "metadata_filter": {"n": 1}})),
        )
        .ok();
    let mut ids = hit_ids_of(&filtered);
    ids.sort();
    assert_eq!(ids, ["a", "b1"], "{filtered}");

    // List: a bare array in id order; embeddings only when detailed.
    let ids = |listed: &Value| -> Vec<String> {
        let listed = listed.as_array().unwrap();
        assert!(listed.iter().all(|v| v.get("vector_embedding").is_none()), "{listed:?}");
        listed
            .iter()
            .map(|v| v["vector_id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(&client
        .send("GET", &format!("database/vectors?namespace={ns}"), None)
        .ok());
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    let page = ids(&client
        .send(
            "GET",
            &format!("database/vectors?namespace={ns}&limit=2&offset=1"),
            None,
        )
        .ok());
    assert_eq!(page, all[1..3]);
    let detailed = client
        .send(
            "GET",
            &format!("database/vectors?namespace={ns}&limit=1&detailed=true"),
            None,
        )
        .ok();
    assert_eq!(detailed[0]["vector_embedding"].as_array().unwrap().len(), DIMS);

    // Stats of the namespace.
    let stats = client
        .send("GET", &format!("database/vectors/stats?namespace={ns}"), None)
        .ok();
    assert_eq!(stats["total_vectors"], 6);
    assert_eq!(stats["namespaces"], json!([ns]));
    assert_eq!(stats["avg_dimensions"].as_f64(), Some(DIMS as f64));
    assert!(stats["total_size_mb"].as_f64().unwrap() > 0.0);

    // Get and delete by id.
    let got = client
        .send("GET", &format!("database/vectors/b3?namespace={ns}"), None)
        .ok();
    assert_eq!(
        (got["vector_id"].as_str(), got["vector_metadata"]["n"].as_u64()),
        (Some("b3"), Some(3))
    );
    let gone = client
        .send("DELETE", &format!("database/vectors/b3?namespace={ns}"), None)
        .ok();
    assert_eq!(
        (gone["success"].as_bool(), gone["vector_id"].as_str()),
        (Some(true), Some("b3"))
    );
    let missing = client.send("GET", &format!("database/vectors/b3?namespace={ns}"), None);
    assert_eq!((missing.status, detail(&missing)), (404, "Vector not found"));
    let again = client.send("DELETE", &format!("database/vectors/b3?namespace={ns}"), None);
    assert_eq!(again.status, 404);

    // Memory records.
    let agent = "6f1c2a55-0d1e-4b8c-9a3d-2e4f6a8b0c1d";
    let session = "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b";
    let memory = client
        .send(
            "POST",
            "database/memory",
            Some(
                &json!({"content": "the sky is blue", "agent_id": agent, "session_id": session,
                "role": "user", "memory_metadata": {"topic": "sky"}, "embedding": vectors[7]}),
            ),
        )
        .ok();
    let memory_id = memory["memory_id"].as_str().unwrap().to_string();
    assert_eq!(
        (memory["agent_id"].as_str(), memory["session_id"].as_str()),
        (Some(agent), Some(session))
    );
    assert_eq!(
        (memory["role"].as_str(), memory["memory_metadata"]["topic"].as_str()),
        (Some("user"), Some("sky"))
    );
    client
        .send(
            "POST",
            "database/memory",
            Some(
                &json!({"content": "grass is green", "agent_id": agent, "session_id": session,
                "role": "assistant", "metadata": {"topic": "grass"}, "embedding": vectors[8]}),
            ),
        )
        .ok();
    let listed = client
        .send("GET", &format!("database/memory?agent_id={agent}&limit=1"), None)
        .ok();
    assert_eq!(
        (listed["total"].as_u64(), listed["has_more"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let by_role = client.send("GET", "database/memory?role=assistant", None).ok();
    assert_eq!(by_role["data"][0]["content"], "grass is green");
    let got = client.send("GET", &format!("database/memory/{memory_id}"), None).ok();
    assert_eq!(got["content"], "the sky is blue");
    let updated = client
        .send(
            "PUT",
            &format!("database/memory/{memory_id}"),
            Some(&json!({"content": "the sky is grey"})),
        )
        .ok();
    assert_eq!(
        (
            updated["content"].as_str(),
            updated["memory_metadata"]["topic"].as_str()
        ),
        (Some("the sky is grey"), Some("sky"))
    );
    let searched = client
        .send(
            "POST",
            "database/memory/search",
            Some(&json!({"query_vector": vectors[7], "limit": 2})),
        )
        .ok();
    assert_eq!(searched["memories"][0]["memory_id"], memory_id.as_str());
    assert!((searched["memories"][0]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-4);
    client
        .send("DELETE", &format!("database/memory/{memory_id}"), None)
        .ok();
    let missing = client.send("GET", &format!("database/memory/{memory_id}"), None);
    assert_eq!((missing.status, detail(&missing)), (404, "Memory not found"));
}

#[test]
fn every_route_under_every_prefix_with_either_header() {
    let (db, server, key, project) = setup("zerodb_routes");
    let vectors = clustered_vectors(&mut rng(16), 9, DIMS, 9);
    for (p, prefix) in PREFIXES.iter().enumerate() {
        for (a, auth) in [Auth::ApiKey, Auth::Bearer].into_iter().enumerate() {
            let client = Client {
                server: &server,
                key: key.clone(),
                base: format!("{prefix}/{project}"),
                auth,
            };
            // Memory records are per project: clear the previous run's.
            let old = client.send("GET", "database/memory?limit=1000", None).ok();
            for record in old["data"].as_array().unwrap() {
                client
                    .send(
                        "DELETE",
                        &format!("database/memory/{}", record["memory_id"].as_str().unwrap()),
                        None,
                    )
                    .ok();
            }
            scenario(&client, &project, &format!("ns-{p}-{a}"), &vectors);
        }
    }
    drop(db);
}

#[test]
fn the_aliases_clients_still_send() {
    let (_db, server, key, project) = setup("zerodb_aliases");
    let client = Client {
        server: &server,
        key,
        base: format!("/api/v1/projects/{project}"),
        auth: Auth::Bearer,
    };
    let v = clustered_vectors(&mut rng(3), 4, DIMS, 4);
    // `vector`, `id`, `metadata`; `values` and `embedding`; namespace defaults to "default".
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"vector": v[0], "id": "x0", "metadata": {"k": "a"}})),
        )
        .ok();
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"values": v[1], "id": "x1"})),
        )
        .ok();
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"embedding": v[2], "vector_id": "x2"})),
        )
        .ok();
    let got = client.send("GET", "database/vectors/x0", None).ok();
    assert_eq!(
        (got["namespace"].as_str(), got["vector_metadata"]["k"].as_str()),
        (Some("default"), Some("a"))
    );
    // Search: `vector`, `top_k`, `similarity_threshold`, and each filter name.
    for filter_name in ["metadata_filter", "filter_metadata", "filter"] {
        let found = client
            .send(
                "POST",
                "database/vectors/search",
                Some(&json!({"vector": v[0], "top_k": 5, "similarity_threshold": 0.0, filter_name: {"k": "a"}})),
            )
            .ok();
        assert_eq!(hit_ids_of(&found), ["x0"], "{filter_name}");
    }
    // A threshold drops what is less similar; no namespace searches them all.
    let near = client
        .send(
            "POST",
            "database/vectors/search",
            Some(&json!({"query_vector": v[1], "threshold": 0.999})),
        )
        .ok();
    assert_eq!(hit_ids_of(&near), ["x1"]);
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"vector_embedding": v[3], "vector_id": "y3", "namespace": "other"})),
        )
        .ok();
    let all = client
        .send(
            "POST",
            "database/vectors/search",
            Some(&json!({"query_vector": v[3], "limit": 10})),
        )
        .ok();
    assert_eq!(all["vectors"][0]["namespace"], "other");
    assert_eq!(all["total_count"], 4);
}

fn hit_ids_of(found: &Value) -> Vec<String> {
    found["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["vector_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn errors_have_zerodbs_statuses_and_shapes() {
    let (db, server, key, project) = setup("zerodb_errors");
    let base = format!("/api/v1/projects/{project}");
    let client = Client {
        server: &server,
        key: key.clone(),
        base: base.clone(),
        auth: Auth::ApiKey,
    };
    let v = clustered_vectors(&mut rng(5), 2, DIMS, 2);
    // 401: a wrong key, and none at all.
    let wrong = Client {
        server: &server,
        key: "zdb_not_a_key".into(),
        base: base.clone(),
        auth: Auth::ApiKey,
    };
    let reply = wrong.send("GET", "database/vectors/stats", None);
    assert_eq!(reply.status, 401);
    assert!(!detail(&reply).is_empty());
    let reply = server.send("GET", &format!("{base}/database/vectors/stats"), None, None);
    assert_eq!(reply.status, 401);
    assert!(detail(&reply).contains("X-API-Key"), "{}", reply.json);
    // 404: an unknown route; a route out of scope says so.
    let reply = client.send("GET", "database/nothing", None);
    assert_eq!((reply.status, detail(&reply)), (404, "Not Found"));
    let reply = client.send("POST", "database/tables/t/rows", Some(&json!({"row_data": {}})));
    assert_eq!(reply.status, 404);
    assert!(detail(&reply).contains("tables are not served"), "{}", reply.json);
    for (method, path, what) in [
        ("GET", "database/events", "events"),
        ("POST", "database/files/upload", "files"),
        ("POST", "database/vectors/quantum-compress", "quantum compression"),
        ("GET", "database/vectors/analytics", "vector analytics"),
        ("POST", "database/vectors/cluster", "vector clustering"),
        ("POST", "database/memory/batch/upsert", "memory batch operations"),
    ] {
        let reply = client.send(method, path, Some(&json!({})));
        assert_eq!(
            (reply.status, reply.json["error_code"].as_str()),
            (404, Some("not_served")),
            "{path}"
        );
        assert!(detail(&reply).contains(what), "{path}: {}", reply.json);
    }
    let reply = client.raw("POST", "/api/v1/public/memory/v2/reflect", Some(&json!({"query": "x"})));
    assert_eq!(reply.status, 404);
    assert!(detail(&reply).contains("memory v2"), "{}", reply.json);
    let reply = client.raw("GET", "/api/v1/public/projects/x/database/vectors", None);
    assert_eq!((reply.status, detail(&reply)), (404, "Not Found"));
    // An id that spells one of those names is just an id.
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"vector_embedding": v[1], "vector_id": "files"})),
        )
        .ok();
    client.send("GET", "database/vectors/files", None).ok();
    // A namespace that is not valid percent-encoding is refused, never read as the default.
    let reply = client.send("DELETE", "database/vectors/files?namespace=%zz", None);
    assert_eq!(reply.status, 422, "{}", reply.json);
    client.send("GET", "database/vectors/files", None).ok();
    // 405: POST on the collection root, as ZeroDB answers it.
    let reply = client.send("POST", "database/vectors", Some(&json!({"vector_embedding": v[0]})));
    assert_eq!(reply.status, 405);
    assert!(detail(&reply).contains("Method Not Allowed"), "{}", reply.json);
    // 422: a missing field, a dimension ZeroDB does not store, a bad UUID.
    let reply = client.send("POST", "database/vectors/upsert", Some(&json!({"vector_id": "x"})));
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json["detail"][0]["loc"], json!(["body", "vector_embedding"]));
    assert_eq!(reply.json["detail"][0]["type"], "missing");
    let reply = client.send(
        "POST",
        "database/vectors/upsert",
        Some(&json!({"vector_embedding": [0.5, 0.5, 0.5]})),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json["detail"][0]["loc"], json!(["body", "vector_embedding"]));
    let reply = client.send(
        "POST",
        "database/memory",
        Some(&json!({"content": "x", "agent_id": "agent-7"})),
    );
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json["detail"][0]["loc"], json!(["body", "agent_id"]));
    assert!(reply.json["detail"][0]["msg"].as_str().unwrap().contains("UUID"));
    let reply = client.send(
        "POST",
        "database/vectors/search",
        Some(&json!({"query_vector": v[0], "limit": 101})),
    );
    assert_eq!(reply.status, 422);
    // 400: a dimension other than the namespace's.
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"vector_embedding": v[0], "namespace": "dims"})),
        )
        .ok();
    let reply = client.send(
        "POST",
        "database/vectors/upsert",
        Some(&json!({"vector_embedding": vec![0.1f32; 768], "namespace": "dims"})),
    );
    assert_eq!(reply.status, 400);
    assert!(detail(&reply).contains("384"), "{}", reply.json);
    // 422: a named namespace made through the v1 API with another metric,
    // the first time and when the same body comes again.
    server
        .call(
            "PUT",
            "/v1/collections/l2ns",
            &key,
            Some(&json!({"dims": DIMS, "metric": "l2"})),
        )
        .ok();
    server
        .call(
            "PUT",
            "/v1/collections/l2ns/vectors",
            &key,
            Some(&json!({"vectors": [{"id": "a", "values": v[0]}]})),
        )
        .ok();
    for _ in 0..2 {
        let reply = client.send(
            "POST",
            "database/vectors/search",
            Some(&json!({"query_vector": v[0], "namespace": "l2ns"})),
        );
        assert_eq!(reply.status, 422, "{}", reply.json);
        assert!(
            reply.json["detail"][0]["msg"].as_str().unwrap().contains("cosine"),
            "{}",
            reply.json
        );
    }
    // 404: a project id that is not a UUID, or not the key's project.
    let reply = client.raw("GET", "/api/v1/projects/acme/database/vectors/stats", None);
    assert_eq!((reply.status, detail(&reply)), (404, "Project not found"));
    let other_key = db.key("globex");
    let other = db.project_uuid("globex");
    assert_ne!(other, project);
    let reply = client.raw("GET", &format!("/api/v1/projects/{other}/database/vectors/stats"), None);
    assert_eq!((reply.status, detail(&reply)), (404, "Project not found"));
    drop(other_key);
}

#[test]
fn projects_and_namespaces_are_isolated() {
    let (db, server, key, project) = setup("zerodb_isolation");
    let other_key = db.key("globex");
    let other_project = db.project_uuid("globex");
    let acme = Client {
        server: &server,
        key,
        base: format!("/api/v1/projects/{project}"),
        auth: Auth::ApiKey,
    };
    let globex = Client {
        server: &server,
        key: other_key,
        base: format!("/api/v1/projects/{other_project}"),
        auth: Auth::Bearer,
    };
    let v = clustered_vectors(&mut rng(9), 3, DIMS, 3);
    acme.send(
        "POST",
        "database/vectors/upsert",
        Some(&json!({"vector_embedding": v[0], "vector_id": "same", "namespace": "n1"})),
    )
    .ok();
    acme.send(
        "POST",
        "database/vectors/upsert",
        Some(&json!({"vector_embedding": v[1], "vector_id": "same", "namespace": "n2"})),
    )
    .ok();
    globex
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"vector_embedding": v[2], "vector_id": "same", "namespace": "n1"})),
        )
        .ok();
    // The same id in three places holds three vectors.
    let in_n1 = acme.send("GET", "database/vectors/same?namespace=n1", None).ok();
    let in_n2 = acme.send("GET", "database/vectors/same?namespace=n2", None).ok();
    let theirs = globex.send("GET", "database/vectors/same?namespace=n1", None).ok();
    let first = |reply: &Value| reply["vector_embedding"][0].as_f64().map(|x| x as f32);
    assert_eq!(first(&in_n1), Some(v[0][0]));
    assert_eq!(first(&in_n2), Some(v[1][0]));
    assert_eq!(first(&theirs), Some(v[2][0]));
    // A namespace's search sees only it; a project's stats only its own.
    let found = acme
        .send(
            "POST",
            "database/vectors/search",
            Some(&json!({"query_vector": v[1], "namespace": "n1", "limit": 5})),
        )
        .ok();
    assert_eq!(found["total_count"], 1);
    assert!(found["vectors"][0]["similarity"].as_f64().unwrap() < 0.999);
    let stats = globex.send("GET", "database/vectors/stats", None).ok();
    assert_eq!(
        (stats["total_vectors"].as_u64(), stats["namespaces"].clone()),
        (Some(1), json!(["n1"]))
    );
    // Deleting in n2 leaves n1 alone.
    acme.send("DELETE", "database/vectors/same?namespace=n2", None).ok();
    let in_n1 = acme.send("GET", "database/vectors/same?namespace=n1", None).ok();
    assert_eq!(first(&in_n1), Some(v[0][0]));
    // One project's cached answer is never another's, for the same body.
    let search = json!({"query_vector": v[0], "namespace": "n1", "limit": 5});
    acme.send("POST", "database/vectors/search", Some(&search)).ok();
    let cached = acme.send("POST", "database/vectors/search", Some(&search));
    assert_eq!(cached.cache.as_deref(), Some("hit"));
    let theirs = globex.send("POST", "database/vectors/search", Some(&search));
    assert_eq!(theirs.cache.as_deref(), Some("miss"));
    assert_eq!(first(&theirs.json["vectors"][0]), Some(v[2][0]));
    // One key may not reach the other project, even by the right id.
    let reply = acme.raw(
        "GET",
        &format!("/api/v1/projects/{other_project}/database/vectors/same?namespace=n1"),
        None,
    );
    assert_eq!(reply.status, 404);
}

#[test]
fn one_cache_and_one_store_under_both_dialects() {
    let (_db, server, key, project) = setup("zerodb_cache");
    let client = Client {
        server: &server,
        key: key.clone(),
        base: format!("/api/v1/projects/{project}"),
        auth: Auth::ApiKey,
    };
    let v = clustered_vectors(&mut rng(12), 4, DIMS, 4);
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"vector_embedding": v[0], "vector_id": "z0", "namespace": "shared"})),
        )
        .ok();
    let search = json!({"query_vector": v[1], "limit": 5, "namespace": "shared"});
    let first = client.send("POST", "database/vectors/search", Some(&search));
    assert_eq!(first.cache.as_deref(), Some("miss"));
    let repeated = client.send("POST", "database/vectors/search", Some(&search));
    assert_eq!(repeated.cache.as_deref(), Some("hit"));
    assert_eq!(repeated.json["vectors"], first.json["vectors"]);
    // The namespace is the v1 collection of that name.
    let described = server.call("GET", "/v1/collections/shared", &key, None).ok();
    assert_eq!(
        (described["dims"].as_u64(), described["metric"].as_str()),
        (Some(DIMS as u64), Some("cosine"))
    );
    let via_v1 = server.call("GET", "/v1/collections/shared/vectors/z0", &key, None).ok();
    assert_eq!(via_v1["values"].as_array().unwrap().len(), DIMS);
    // A v1 write is seen at once by the ZeroDB search cached above.
    server
        .call(
            "PUT",
            "/v1/collections/shared/vectors",
            &key,
            Some(&json!({"vectors": [{"id": "z1", "values": v[1], "metadata": {"via": "v1"}}]})),
        )
        .ok();
    let after = client.send("POST", "database/vectors/search", Some(&search)).ok();
    assert_eq!(after["vectors"][0]["vector_id"], "z1");
    assert_eq!(after["vectors"][0]["vector_metadata"], json!({"via": "v1"}));
    // A ZeroDB write is seen at once by a v1 search cached before it.
    let v1_search = json!({"vector": v[2], "k": 1});
    let before = server
        .call("POST", "/v1/collections/shared/search", &key, Some(&v1_search))
        .ok();
    assert_ne!(before["hits"][0]["id"], "z2");
    let cached = server.call("POST", "/v1/collections/shared/search", &key, Some(&v1_search));
    assert_eq!(cached.cache.as_deref(), Some("hit"));
    client
        .send(
            "POST",
            "database/vectors/upsert",
            Some(&json!({"vector_embedding": v[2], "vector_id": "z2", "namespace": "shared"})),
        )
        .ok();
    let seen = server
        .call("POST", "/v1/collections/shared/search", &key, Some(&v1_search))
        .ok();
    assert_eq!(seen["hits"][0]["id"], "z2");
    // And a delete through v1 is seen by a ZeroDB get.
    client.send("GET", "database/vectors/z2?namespace=shared", None).ok();
    let cached = client.send("GET", "database/vectors/z2?namespace=shared", None);
    assert_eq!(cached.cache.as_deref(), Some("hit"));
    server
        .call("DELETE", "/v1/collections/shared/vectors/z2", &key, None)
        .ok();
    let reply = client.send("GET", "database/vectors/z2?namespace=shared", None);
    assert_eq!(reply.status, 404);
}

/// `GET /openapi.json` answers, with no key, the committed document, and
/// the server answers every operation it lists (no 404 for want of a
/// route, no 405) and refuses the methods it does not list with 405.
#[test]
fn the_openapi_document_lists_what_the_server_answers() {
    let (_db, server, key, project) = setup("zerodb_openapi");
    let reply = server.send("GET", "/openapi.json", None, None);
    assert_eq!(reply.status, 200);
    let committed: Value =
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json is JSON");
    assert_eq!(reply.json, committed);
    let mut answered = 0;
    for (path, item) in committed["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{project_id}", &project)
            .replace("{name}", "docs")
            .replace("{id}", "v1")
            .replace("{key}", "a.txt")
            .replace("{vector_id}", "v1")
            .replace("{memory_id}", "m1");
        for method in ["GET", "PUT", "POST", "DELETE"] {
            let reply = server.call(method, &concrete, &key, Some(&json!({})));
            let no_route =
                reply.status == 404 && (reply.error_code() == "no_route" || reply.json["detail"] == "Not Found");
            if item.get(method.to_lowercase()).is_some() {
                assert!(
                    !no_route && reply.status != 405,
                    "{method} {path}: {} {}",
                    reply.status,
                    reply.json
                );
                answered += 1;
            } else {
                assert_eq!(reply.status, 405, "{method} {path} is not documented: {}", reply.json);
            }
        }
    }
    assert!(answered >= 50, "only {answered} operations");
}

/// ZeroDB's `metadata_filter` is the same language as the v1 API's: for
/// each operator, `$and`/`$or`, dotted keys and numbers past 2^53, the
/// ZeroDB search (the edge's answer, from a hot copy or the cache once
/// warm) returns exactly the documents the edge's evaluator matches, which
/// are exactly those PostgreSQL returns (a v1 `strong` search); an unknown
/// operator is a 400 that names it.
#[test]
fn metadata_filters_give_postgresqls_answer() {
    let (_db, server, key, project) = setup("zerodb_filters");
    let client = Client {
        server: &server,
        key: key.clone(),
        base: format!("/v1/projects/{project}"),
        auth: Auth::ApiKey,
    };
    let docs = [
        json!({"n": 1, "tag": "a", "user": {"tier": "gold", "age": 30}}),
        json!({"n": 2.0, "tag": "b", "user": {"tier": "silver", "age": 41}}),
        json!({"n": "2", "tag": "a", "big": 9007199254740993u64}),
        json!({"n": 3, "tag": null, "big": 9007199254740992u64, "user": {"tier": "gold"}}),
        json!({"tag": "c", "list": [1, 2, 3]}),
        json!({"n": 10, "tag": "é", "user": {"age": 18}}),
    ];
    let v = clustered_vectors(&mut rng(21), docs.len() + 1, DIMS, docs.len() + 1);
    let items: Vec<Value> = docs
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"vector_embedding": v[i], "vector_id": format!("d{i}"), "namespace": "f", "vector_metadata": m}))
        .collect();
    let batch = client
        .send("POST", "database/vectors/upsert-batch", Some(&json!(items)))
        .ok();
    assert_eq!(batch["success_count"], docs.len());
    let filters = [
        json!({"tag": "a"}),
        json!({"n": {"$eq": 2}}),
        json!({"n": {"$ne": 2}}),
        json!({"tag": {"$in": ["a", "c"]}}),
        json!({"tag": {"$nin": ["a", null]}}),
        json!({"n": {"$gt": 1, "$lte": 10}}),
        json!({"n": {"$lt": 3}}),
        json!({"n": {"$gte": 3}}),
        json!({"tag": {"$gt": "b"}}),
        json!({"user.tier": "gold"}),
        json!({"user.age": {"$gte": 30}}),
        json!({"tag": {"$exists": true}, "n": {"$exists": false}}),
        json!({"big": 9007199254740993u64}),
        json!({"big": {"$gt": 9007199254740992u64}}),
        json!({"list.1": 2}),
        json!({"$or": [{"tag": "b"}, {"user.age": {"$lt": 20}}]}),
        json!({"$and": [{"tag": "a"}, {"$or": [{"n": 1}, {"n": "2"}]}]}),
    ];
    for filter in &filters {
        let parsed = edge_core::filter::Filter::parse(&filter.to_string()).expect("a valid filter");
        let mut expected: Vec<String> = docs
            .iter()
            .enumerate()
            .filter(|(_, m)| parsed.matches(m.as_object().unwrap()))
            .map(|(i, _)| format!("d{i}"))
            .collect();
        expected.sort();
        let strong = json!({"vector": v[docs.len()], "k": 100, "filter": filter, "consistency": "strong"});
        let mut postgres = hit_ids(
            &server
                .call("POST", "/v1/collections/f/search", &key, Some(&strong))
                .ok(),
        );
        postgres.sort();
        assert_eq!(postgres, expected, "PostgreSQL and the evaluator on {filter}");
        for round in 0..2 {
            let search =
                json!({"query_vector": v[docs.len()], "limit": 100, "namespace": "f", "metadata_filter": filter});
            let reply = client.send("POST", "database/vectors/search", Some(&search));
            if round == 1 {
                assert_eq!(reply.cache.as_deref(), Some("hit"), "{filter}");
            }
            let mut got = hit_ids_of(&reply.ok());
            got.sort();
            assert_eq!(got, expected, "the ZeroDB search with {filter}");
        }
    }
    let reply = client.send(
        "POST",
        "database/vectors/search",
        Some(&json!({"query_vector": v[0], "namespace": "f", "metadata_filter": {"tag": {"$regex": "a"}}})),
    );
    assert_eq!(reply.status, 400);
    assert!(detail(&reply).contains("$regex"), "{}", reply.json);
}

/// A list pages through the origin past its 1000-vector page: `offset`
/// and `limit` cut the namespace's id order exactly; an offset past the
/// cap is 422.
#[test]
fn a_list_reaches_past_one_origin_page() {
    let (_db, server, key, project) = setup("zerodb_list");
    let client = Client {
        server: &server,
        key,
        base: format!("/api/v1/projects/{project}"),
        auth: Auth::Bearer,
    };
    let v = clustered_vectors(&mut rng(33), 2500, DIMS, 10);
    for chunk in 0..3 {
        let items: Vec<Value> = (chunk * 1000..((chunk + 1) * 1000).min(2500))
            .map(|i| json!({"vector_embedding": v[i], "vector_id": format!("v{i:05}"), "namespace": "big"}))
            .collect();
        let batch = client
            .send("POST", "database/vectors/upsert-batch", Some(&json!(items)))
            .ok();
        assert_eq!(batch["error_count"], 0, "{batch}");
    }
    let ids = |path: &str| -> Vec<String> {
        let listed = client.send("GET", path, None).ok();
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["vector_id"].as_str().unwrap().to_string())
            .collect()
    };
    let page = ids("database/vectors?namespace=big&offset=1500&limit=1000");
    let want: Vec<String> = (1500..2500).map(|i| format!("v{i:05}")).collect();
    assert_eq!(page, want);
    let tail = ids("database/vectors?namespace=big&offset=2490&limit=50");
    assert_eq!(tail.len(), 10);
    assert!(ids("database/vectors?namespace=big&offset=2500").is_empty());
    let reply = client.send("GET", "database/vectors?namespace=big&offset=100001", None);
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json["detail"][0]["loc"], json!(["query", "offset"]));
}

/// `PUT …/database/memory/{id}` changes the fields it names in one
/// statement at the origin: two updates of different fields at once both
/// hold, and an update of a deleted record is 404 and does not bring it back.
#[test]
fn memory_updates_change_fields_in_place() {
    let (_db, server, key, project) = setup("zerodb_memory_update");
    let client = Client {
        server: &server,
        key,
        base: format!("/api/v1/projects/{project}"),
        auth: Auth::ApiKey,
    };
    let created = client
        .send(
            "POST",
            "database/memory",
            Some(&json!({"content": "c", "memory_metadata": {"r": 0}})),
        )
        .ok();
    let id = created["memory_id"].as_str().unwrap().to_string();
    let path = format!("database/memory/{id}");
    for round in 1..=20 {
        let bodies = [
            json!({"content": format!("c{round}")}),
            json!({"memory_metadata": {"r": round}}),
        ];
        clients(2, |i| client.send("PUT", &path, Some(&bodies[i])).ok());
        let got = client.send("GET", &path, None).ok();
        assert_eq!(got["content"], format!("c{round}"), "round {round}: {got}");
        assert_eq!(got["memory_metadata"]["r"], round, "round {round}: {got}");
    }
    client.send("DELETE", &path, None).ok();
    let reply = client.send("PUT", &path, Some(&json!({"content": "back?"})));
    assert_eq!((reply.status, detail(&reply)), (404, "Memory not found"));
    assert_eq!(client.send("GET", &path, None).status, 404);
}

/// 32 ZeroDB clients at once, 1536 dimensions, a hot namespace (held whole
/// at the edge) and one past the hot-copy limit (searched at the origin,
/// then cached): every search of a stored vector finds it first, with
/// similarity ~1, and every client's own write is found by its next search.
#[test]
fn thirty_two_clients_read_exactly_and_see_their_own_writes() {
    const BIG: usize = 1536;
    let db = TestDb::new("zerodb_concurrent");
    let key = db.key("acme");
    let project = db.project_uuid("acme");
    let server = Server::start_env(
        &db.url,
        &["--migrate", "--hot-collection-max-vectors", "1000"],
        &[("ZERODB_EDGE_INSTANCES_PER_SHARD", "2".into())],
    );
    let client = Client {
        server: &server,
        key,
        base: format!("/api/v1/projects/{project}"),
        auth: Auth::ApiKey,
    };
    // Both namespaces are searched exactly at the origin (made through the
    // v1 API with no index): an HNSW graph may not reach a vector just
    // inserted far from all others, and this test asks for exact reads of
    // one's own writes whichever of the edge or the origin answers.
    for namespace in ["hot", "cold"] {
        let spec = json!({"dims": BIG, "index": "none"});
        server
            .call("PUT", &format!("/v1/collections/{namespace}"), &client.key, Some(&spec))
            .ok();
    }
    let v = clustered_vectors(&mut rng(64), 3800, BIG, 40);
    // `hot`: 800 vectors (under the limit); `cold`: 3000 (over it).
    for (namespace, range) in [("hot", 0..800), ("cold", 800..3800)] {
        for chunk in range.collect::<Vec<_>>().chunks(1000) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|&i| json!({"vector_embedding": v[i], "vector_id": format!("v{i}"), "namespace": namespace}))
                .collect();
            let batch = client
                .send("POST", "database/vectors/upsert-batch", Some(&json!(items)))
                .ok();
            assert_eq!(batch["error_count"], 0, "{batch}");
        }
    }
    let written = clustered_vectors(&mut rng(65), 32 * 4, BIG, 32 * 4);
    let answers = clients(32, |c| {
        let mut hits = 0;
        for round in 0..12 {
            // Queries repeat across clients (40 of them), so caches answer too.
            let i = (c * 7 + round * 13) % 40 * 95;
            let namespace = if i < 800 { "hot" } else { "cold" };
            let search =
                json!({"query_vector": v[i], "limit": 10, "namespace": namespace, "include_embeddings": false});
            let reply = client.send("POST", "database/vectors/search", Some(&search));
            hits += (reply.cache.as_deref() == Some("hit")) as usize;
            let found = reply.ok();
            assert_eq!(
                found["vectors"][0]["vector_id"],
                format!("v{i}"),
                "client {c} round {round}"
            );
            assert!(
                found["vectors"][0]["similarity"].as_f64().unwrap() > 0.999,
                "{}",
                found["vectors"][0]
            );
            if round % 3 == 0 {
                // Its own write, then a search for it, in each namespace; the
                // same search before the write left an answer without it in
                // the cache, which must not be served.
                let w = &written[c * 4 + round / 3];
                let id = format!("w{c}-{round}");
                for namespace in ["hot", "cold"] {
                    let search = json!({"query_vector": w, "limit": 1, "namespace": namespace});
                    let before = client.send("POST", "database/vectors/search", Some(&search)).ok();
                    assert_ne!(before["vectors"][0]["vector_id"], id.as_str());
                    let upsert = json!({"vector_embedding": w, "vector_id": id, "namespace": namespace});
                    client.send("POST", "database/vectors/upsert", Some(&upsert)).ok();
                    let found = client.send("POST", "database/vectors/search", Some(&search)).ok();
                    assert_eq!(
                        found["vectors"][0]["vector_id"],
                        id.as_str(),
                        "client {c}: its write to {namespace}"
                    );
                }
            }
        }
        hits
    });
    let hits: usize = answers.iter().sum();
    assert!(hits > 0, "no search was a cache hit");
    let stats = client.send("GET", "database/vectors/stats", None).ok();
    assert_eq!(stats["total_vectors"], 3800 + 2 * 32 * 4);
}
