//! Text in, vectors out: the host's embedding model against
//! sentence-transformers' own vectors, ZeroDB's text routes and agent
//! memory, the edge's embedding cache, v1 search by text, and bad input.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::Path;

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// A server running the default model, a key and the project's UUID.
fn setup(tag: &str, extra_env: &[(&str, String)]) -> (TestDb, Server, String, String) {
    let db = TestDb::new(tag);
    let key = db.key("acme");
    let project = db.project_uuid("acme");
    let mut env = embedding_env();
    env.extend(extra_env.iter().cloned());
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    // Once the coherence feed is live, tokens and resolved keys are
    // answered from memory: a hit then touches no database.
    let start = std::time::Instant::now();
    while server.metric("zerodb_edge_coherence_feed_up") != 1.0 {
        assert!(start.elapsed().as_secs() < 10, "the coherence feed never went live");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (db, server, key, project)
}

fn post(server: &Server, key: &str, path: &str, body: &Value) -> Reply {
    server.send_with(
        "POST",
        path,
        None,
        Some(body.to_string().into_bytes()),
        &[("x-api-key", key)],
    )
}

fn texts_of(reply: &Value) -> Vec<String> {
    reply["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {reply}"))
        .iter()
        .map(|r| r["document"].as_str().unwrap().to_string())
        .collect()
}

/// The fixture made by `scripts/embedding-reference` with
/// sentence-transformers (PyTorch): every case, embedded in one request
/// (texts of every length padded together) and one by one, is within
/// cosine 0.9999 of the reference; blank texts are refused.
#[test]
fn vectors_match_sentence_transformers() {
    let (db, server, key, project) = setup("embed_reference", &[]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/embeddings/all-MiniLM-L6-v2.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(fixture["model"], MODEL);
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let reference: Vec<Vec<f32>> = cases
        .iter()
        .map(|c| serde_json::from_value(c["embedding"].clone()).unwrap())
        .collect();
    let generate = format!("/api/v1/projects/{project}/embeddings/generate");
    // Each alone first (the model's, not the edge cache's: a miss), then
    // all in one request, each padded to the longest, through a second
    // project so that the edge's cache (per project) cannot answer.
    let other_key = db.key("other");
    let other = format!("/api/v1/projects/{}/embeddings/generate", db.project_uuid("other"));
    for (i, text) in texts.iter().enumerate() {
        let alone = post(&server, &key, &generate, &json!({"texts": [text]}));
        assert_eq!(alone.cache.as_deref(), Some("miss"), "{text:?}");
        let alone: Vec<f32> = serde_json::from_value(alone.ok()["embeddings"][0].clone()).unwrap();
        let similarity = cosine(&alone, &reference[i]);
        assert!(similarity >= 0.9999, "alone: cosine {similarity} for {text:?}");
    }
    let all = post(&server, &other_key, &other, &json!({"texts": texts}));
    assert_eq!(all.cache.as_deref(), Some("miss"));
    let all = all.ok();
    assert_eq!(
        (all["model"].as_str(), all["dimensions"].as_u64()),
        (Some(MODEL), Some(384))
    );
    let together: Vec<Vec<f32>> = serde_json::from_value(all["embeddings"].clone()).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let similarity = cosine(&together[i], &reference[i]);
        assert!(similarity >= 0.9999, "in a batch: cosine {similarity} for {text:?}");
    }
    for text in fixture["refused"].as_array().unwrap() {
        let reply = post(&server, &key, &generate, &json!({"texts": [text]}));
        assert_eq!(
            (reply.status, reply.json["detail"][0]["type"].as_str()),
            (422, Some("empty_text")),
            "{text}"
        );
    }
}

/// A namespace's vector count, 0 when it does not exist.
fn stored(server: &Server, key: &str, project: &str, namespace: &str) -> u64 {
    let path = format!("/api/v1/projects/{project}/database/vectors/stats?namespace={namespace}");
    let stats = server.send_with("GET", &path, None, None, &[("x-api-key", key)]).ok();
    stats["total_vectors"].as_u64().unwrap()
}

/// Each bad input is a 4xx in ZeroDB's shape and stores nothing.
#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let (_db, server, key, project) = setup("embed_bad_input", &[]);
    let store = format!("/api/v1/projects/{project}/embeddings/embed-and-store");
    let long = "word ".repeat(7000);
    let hundred_and_one: Vec<String> = (0..101).map(|i| format!("text {i}")).collect();
    let cases = [
        (json!({"texts": ["fine", ""], "namespace": "bad"}), 422, "empty_text"),
        (json!({"texts": ["  \n\t "], "namespace": "bad"}), 422, "empty_text"),
        (json!({"texts": [], "namespace": "bad"}), 422, "empty_text"),
        (
            json!({"texts": hundred_and_one, "namespace": "bad"}),
            413,
            "too_many_texts",
        ),
        (
            json!({"texts": ["fine", long], "namespace": "bad"}),
            413,
            "text_too_large",
        ),
        (
            json!({"texts": ["fine"], "namespace": "bad", "model": "BAAI/bge-small-en-v1.5"}),
            400,
            "model_not_loaded",
        ),
        (
            json!({"texts": ["one", "two"], "metadata_list": [{}], "namespace": "bad"}),
            422,
            "metadata_list_mismatch",
        ),
        (
            json!({"texts": ["one"], "metadata_list": ["not an object"], "namespace": "bad"}),
            422,
            "invalid_metadata",
        ),
        (
            json!({"texts": ["one", "two"], "ids": ["a"], "namespace": "bad"}),
            422,
            "invalid_request",
        ),
        (
            json!({"texts": ["one", "two"], "ids": ["a", "a"], "namespace": "bad"}),
            422,
            "invalid_request",
        ),
        (
            json!({"documents": [{"id": "d", "text": " "}], "namespace": "bad"}),
            422,
            "empty_text",
        ),
    ];
    for (body, status, code) in cases {
        let reply = post(&server, &key, &store, &body);
        let found = reply.json["detail"][0]["type"]
            .as_str()
            .or(reply.json["error_code"].as_str());
        assert_eq!((reply.status, found), (status, Some(code)), "{body}: {}", reply.json);
        if code == "model_not_loaded" {
            let detail = reply.json["detail"].as_str().unwrap();
            assert!(
                detail.contains("BAAI/bge-small-en-v1.5") && detail.contains(MODEL),
                "{detail}"
            );
        }
        assert_eq!(stored(&server, &key, &project, "bad"), 0, "{body} stored something");
    }
    // The other text routes refuse the same way.
    let base = format!("/api/v1/projects/{project}/embeddings");
    for (path, body, status, code) in [
        (
            "generate",
            json!({"texts": ["a"], "model": "nope"}),
            400,
            "model_not_loaded",
        ),
        (
            "generate",
            json!({"texts": ["a"], "normalize": false}),
            422,
            "invalid_request",
        ),
        ("search", json!({"query": " ", "namespace": "bad"}), 422, "empty_text"),
        ("search", json!({"query": "a", "limit": 101}), 422, "invalid_limit"),
    ] {
        let reply = post(&server, &key, &format!("{base}/{path}"), &body);
        let found = reply.json["detail"][0]["type"]
            .as_str()
            .or(reply.json["error_code"].as_str());
        assert_eq!(
            (reply.status, found),
            (status, Some(code)),
            "{path} {body}: {}",
            reply.json
        );
    }
    let memory = "/api/v1/public/memory/v2";
    for (path, body, status) in [
        ("remember", json!({"content": ""}), 422),
        ("remember", json!({"content": "x", "importance": 2}), 422),
        ("recall", json!({"query": "\t"}), 422),
        ("forget", json!({"memory_id": "no-such-memory"}), 404),
    ] {
        let reply = post(&server, &key, &format!("{memory}/{path}"), &body);
        assert_eq!(reply.status, status, "{path} {body}: {}", reply.json);
    }
    let recalled = post(
        &server,
        &key,
        &format!("{memory}/recall"),
        &json!({"query": "x", "allow_cross_namespace": true}),
    );
    assert_eq!(recalled.ok()["count"], 0, "a refused memory was stored");
    // The agent memory's store is the edge's own: no public route reaches it.
    let reserved = server.call("GET", "/v1/collections/_zerodb_memory_v2", &key, None);
    assert_eq!((reserved.status, reserved.error_code()), (400, "invalid_name"));
}

/// embed-and-store in each body form ZeroDB's clients send, then a text
/// search: the right document first, its metadata and id back. A repeated
/// search is answered by the edge without the model or the database; a
/// write is seen by the next search at once.
#[test]
fn text_routes_store_search_and_cache() {
    // Keys stay resolved for the whole test: a hit then touches no database.
    let (_db, server, key, project) = setup("embed_text_routes", &[("ZERODB_AUTH_CACHE_MS", "600000".into())]);
    let base = format!("/api/v1/projects/{project}/embeddings");
    let store = |body: Value| post(&server, &key, &format!("{base}/embed-and-store"), &body).ok();
    let first = store(json!({
        "texts": ["Volcanoes erupt molten rock called lava.", "Jazz was born in New Orleans."],
        "metadata_list": [{"topic": "geology"}, {"topic": "music"}],
        "namespace": "docs",
    }));
    assert_eq!(
        (first["vectors_stored"].as_u64(), first["model"].as_str()),
        (Some(2), Some(MODEL))
    );
    assert_eq!(first["vector_ids"].as_array().unwrap().len(), 2);
    store(json!({
        "documents": [{"id": "pasta", "text": "Cook pasta in salted boiling water.", "metadata": {"topic": "food"}}],
        "namespace": "docs",
    }));
    store(
        json!({"texts": ["Income tax is due in April."], "ids": ["tax"], "metadata": {"topic": "law"}, "namespace": "docs"}),
    );
    assert_eq!(stored(&server, &key, &project, "docs"), 4);

    let search = json!({"query": "how long to boil spaghetti", "limit": 3, "threshold": 0.2, "namespace": "docs"});
    let path = format!("{base}/search");
    let miss = post(&server, &key, &path, &search);
    assert_eq!(miss.cache.as_deref(), Some("miss"));
    let answer = miss.ok();
    assert_eq!(texts_of(&answer)[0], "Cook pasta in salted boiling water.");
    let top = &answer["results"][0];
    assert_eq!(
        (top["id"].as_str(), top["vector_id"].as_str()),
        (Some("pasta"), Some("pasta"))
    );
    assert_eq!(top["vector_metadata"], json!({"topic": "food"}));
    assert_eq!(top["metadata"], json!({"topic": "food"}));
    assert!(top["similarity"].as_f64().unwrap() > 0.5, "{top}");

    // The same query again: the edge answers; no text reaches the model and
    // no connection is asked of the database pool.
    // (The first repeat also loads the small namespace whole at the edge,
    // its hot-collection admission, which reads the database once.)
    assert_eq!(post(&server, &key, &path, &search).cache.as_deref(), Some("hit"));
    let texts_before = server.metric("zerodb_embedding_texts_total");
    let pool_before = server.metric("zerodb_db_pool_acquisitions_total");
    let hit = post(&server, &key, &path, &search);
    assert_eq!(hit.cache.as_deref(), Some("hit"));
    assert_eq!(hit.json["results"], answer["results"]);
    assert_eq!(server.metric("zerodb_embedding_texts_total"), texts_before);
    assert_eq!(server.metric("zerodb_db_pool_acquisitions_total"), pool_before);

    // A new document is seen by the cached query at once.
    store(json!({"texts": ["Boil spaghetti for nine minutes."], "ids": ["spaghetti"], "namespace": "docs"}));
    let after = post(&server, &key, &path, &search).ok();
    assert_eq!(after["results"][0]["id"], "spaghetti", "{after}");

    // A text embedded once is never embedded again, in any route.
    let texts_before = server.metric("zerodb_embedding_texts_total");
    let generated = post(
        &server,
        &key,
        &format!("{base}/generate"),
        &json!({"texts": ["how long to boil spaghetti", "Boil spaghetti for nine minutes."]}),
    );
    assert_eq!(generated.cache.as_deref(), Some("hit"));
    assert_eq!(server.metric("zerodb_embedding_texts_total"), texts_before);

    // Store and search keep to the namespace's model.
    let other = post(
        &server,
        &key,
        &path,
        &json!({"query": "lava", "namespace": "docs", "model": "BAAI/bge-base-en-v1.5"}),
    );
    assert_eq!(
        (other.status, other.json["error_code"].as_str()),
        (400, Some("model_mismatch"))
    );
    // Texts are not stored where vectors of an unknown model are.
    post(
        &server,
        &key,
        &format!("/api/v1/projects/{project}/database/vectors/upsert"),
        &json!({"vector_embedding": vec![0.5f32; 384], "namespace": "raw"}),
    )
    .ok();
    let raw = post(
        &server,
        &key,
        &format!("{base}/embed-and-store"),
        &json!({"texts": ["x"], "namespace": "raw"}),
    );
    assert_eq!(
        (raw.status, raw.json["error_code"].as_str()),
        (400, Some("model_mismatch"))
    );
    assert_eq!(stored(&server, &key, &project, "raw"), 1);
    let raw_search = post(
        &server,
        &key,
        &format!("{base}/search"),
        &json!({"query": "x", "namespace": "raw"}),
    );
    assert_eq!(
        (raw_search.status, raw_search.json["error_code"].as_str()),
        (400, Some("no_model_bound"))
    );
    let models = server
        .send_with("GET", &format!("{base}/models"), None, None, &[("x-api-key", &key)])
        .ok();
    assert_eq!(models[0]["name"], MODEL);
    assert_eq!(
        (models[0]["dimensions"].as_u64(), models[0]["default"].as_bool()),
        (Some(384), Some(true))
    );
}

/// The v1 dialect: a collection bound to a model is searched by `text`,
/// the same as by the text's vector; one bound to none refuses text.
#[test]
fn v1_searches_by_text_in_a_collection_bound_to_a_model() {
    let (_db, server, key, project) = setup("embed_v1_text", &[]);
    let created = server
        .call("PUT", "/v1/collections/notes", &key, Some(&json!({"model": MODEL})))
        .ok();
    assert_eq!(
        (created["dims"].as_u64(), created["model"].as_str()),
        (Some(384), Some(MODEL))
    );
    let texts = [
        "The train to Paris leaves at noon.",
        "Photosynthesis turns light into sugar.",
    ];
    post(
        &server,
        &key,
        &format!("/api/v1/projects/{project}/embeddings/embed-and-store"),
        &json!({"texts": texts, "ids": ["train", "plants"], "namespace": "notes"}),
    )
    .ok();
    let by_text = server
        .call(
            "POST",
            "/v1/collections/notes/search",
            &key,
            Some(&json!({"text": "how do plants make food", "k": 2})),
        )
        .ok();
    assert_eq!(hit_ids(&by_text), ["plants", "train"]);
    let vector = post(
        &server,
        &key,
        &format!("/api/v1/projects/{project}/embeddings/generate"),
        &json!({"texts": ["how do plants make food"]}),
    )
    .ok()["embeddings"][0]
        .clone();
    // At the origin (`strong`), not from the result the text search cached.
    let by_vector = server
        .call(
            "POST",
            "/v1/collections/notes/search",
            &key,
            Some(&json!({"vector": vector, "k": 2, "consistency": "strong"})),
        )
        .ok();
    assert_eq!(by_vector["source"], "origin");
    assert_eq!(hit_ids(&by_vector), hit_ids(&by_text));
    for (a, b) in by_vector["hits"]
        .as_array()
        .unwrap()
        .iter()
        .zip(by_text["hits"].as_array().unwrap())
    {
        assert!(
            (a["score"].as_f64().unwrap() - b["score"].as_f64().unwrap()).abs() < 1e-5,
            "{a} {b}"
        );
    }

    server
        .call("PUT", "/v1/collections/plain", &key, Some(&json!({"dims": 384})))
        .ok();
    let refused = server.call(
        "POST",
        "/v1/collections/plain/search",
        &key,
        Some(&json!({"text": "x", "k": 1})),
    );
    assert_eq!((refused.status, refused.error_code()), (400, "no_model_bound"));
    let wrong = server.call(
        "PUT",
        "/v1/collections/wrong",
        &key,
        Some(&json!({"model": MODEL, "dims": 768})),
    );
    assert_eq!((wrong.status, wrong.error_code()), (422, "dimension_mismatch"));
}

/// Agent memory: three facts remembered, the right one recalled first,
/// namespaces kept apart, and forget (both forms) forgets.
#[test]
fn agent_memory_remembers_recalls_and_forgets() {
    let (_db, server, key, _) = setup("embed_memory", &[]);
    for prefix in ["/api/v1/public/memory/v2", "/v1/public/memory/v2"] {
        let namespace = format!("session:{}", &prefix[1..4]);
        let facts = [
            "My sister lives in Lisbon and studies whales.",
            "I am allergic to peanuts.",
            "My car is a blue Honda that needs new brakes.",
        ];
        let ids: Vec<String> = facts
            .iter()
            .map(|fact| {
                let stored = post(
                    &server,
                    &key,
                    &format!("{prefix}/remember"),
                    &json!({"content": fact, "namespace": namespace, "metadata": {"source": "test"}, "importance": 0.4}),
                )
                .ok();
                assert_eq!(stored["status"], "stored");
                stored["memory_id"].as_str().unwrap().to_string()
            })
            .collect();
        let recall = |query: &str, namespace: &str| {
            post(
                &server,
                &key,
                &format!("{prefix}/recall"),
                &json!({"query": query, "namespace": namespace, "limit": 3}),
            )
            .ok()
        };
        let found = recall("which food can't I eat?", &namespace);
        assert_eq!(found["count"], 3);
        let first = &found["results"][0];
        assert_eq!(
            (first["content"].as_str(), first["id"].as_str()),
            (Some(facts[1]), Some(ids[1].as_str()))
        );
        assert_eq!(first["metadata"], json!({"source": "test"}));
        let scores: Vec<f64> = found["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        assert_eq!(recall("peanuts", "another")["count"], 0);

        post(
            &server,
            &key,
            &format!("{prefix}/forget"),
            &json!({"memory_id": ids[1]}),
        )
        .ok();
        let deleted = server.send_with(
            "DELETE",
            &format!("{prefix}/forget/{}", ids[0]),
            None,
            None,
            &[("x-api-key", &key)],
        );
        assert_eq!(deleted.ok()["status"], "forgotten");
        let left = recall("which food can't I eat?", &namespace);
        let contents: Vec<&str> = left["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["content"].as_str().unwrap())
            .collect();
        assert_eq!(contents, [facts[2]]);
        let again = post(
            &server,
            &key,
            &format!("{prefix}/forget"),
            &json!({"memory_id": ids[1]}),
        );
        assert_eq!(again.status, 404);
    }
}

/// More texts than the model's queue holds: the requests past it are
/// refused at once with 503 `overloaded` and `Retry-After`, the others are
/// answered.
#[test]
fn a_full_model_queue_answers_overloaded() {
    let (_db, server, key, project) = setup("embed_overload", &[("ZERODB_EMBEDDING_QUEUE", "100".into())]);
    let path = format!("/api/v1/projects/{project}/embeddings/generate");
    // 100 distinct long texts each: one request fills the queue for a while.
    let replies = clients(4, |c| {
        let texts: Vec<String> = (0..100)
            .map(|i| format!("{c} {i} {}", "many words ".repeat(40)))
            .collect();
        post(&server, &key, &path, &json!({"texts": texts}))
    });
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
    assert!(replies.iter().any(|r| r.status == 200), "none answered");
    assert!(
        !refused.is_empty(),
        "none refused: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in refused {
        assert_eq!(reply.json["error_code"], "overloaded");
        assert_eq!(reply.retry_after.as_deref(), Some("1"));
    }
    assert!(server.metric("zerodb_embedding_overloaded_total") >= 1.0);
    // The queue drains: a full request is answered afterwards.
    let texts: Vec<String> = (0..100).map(|i| format!("after {i}")).collect();
    let after = post(&server, &key, &path, &json!({"texts": texts}));
    assert_eq!(after.status, 200, "{}", after.json);
}
