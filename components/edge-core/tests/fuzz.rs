//! Property-based fuzzing of the edge front's request handling: any method,
//! path, header and body must get an answer (never a panic), every error is
//! JSON `{"error":{"code","message"}}`, and no malformed input gets a 5xx.
//! The fake origin answers, or fails as the real one does (unavailable,
//! missing, internal) from a call the input chooses; the check holds the
//! answer to the front's rules for each (the `fake-origin` crate, `tests/fake-origin`):
//! origin errors passed on with their status and `Retry-After`, stale
//! answers only from the cache while the origin is unavailable, 2xx bodies
//! in their route's shape. `scripts/fuzz` runs this longer;
//! `tests/corpus/` holds requests that once mattered, replayed on every run.

use edge_core::cache::CacheConfig;
use edge_core::{Edge, Request};
use fake_origin::{Failure, Fault, Outcome};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

const PATHS: &[&str] = &[
    "/healthz",
    "/v1/health",
    "/v1/collections/docs",
    "/v1/collections/docs/vectors",
    "/v1/collections/docs/vectors/a",
    "/v1/collections/docs/search",
    "/v1/memory",
    "/v1/memory/search",
    "/v1/memory/m",
    "/v1/files/a/b.txt",
    "/openapi.json",
    // ZeroDB's dialect, on the fake origin's project (`fake_origin::PROJECT`).
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors/upsert",
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors/upsert-batch",
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors/search",
    "/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors",
    "/v1/public/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors/stats",
    "/v1/public/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors/a",
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/memory",
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/memory/search",
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/memory/m",
    "/api/v1/projects/11111111-2222-3333-4444-555555555555/database/vectors/search",
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/embeddings/generate",
    "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/embeddings/embed-and-store",
    "/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/embeddings/search",
    "/v1/public/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/embeddings/models",
    "/api/v1/public/memory/v2/remember",
    "/api/v1/public/memory/v2/recall",
    "/v1/public/memory/v2/forget",
    "/api/v1/public/memory/v2/forget/m",
    "/api/v1/public/memory/v2/reflect",
];

const BODIES: &[&str] = &[
    r#"{"dims": 3, "metric": "cosine", "index": "hnsw"}"#,
    r#"{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"k": "v"}}]}"#,
    r#"{"vector": [1, 0, 0], "k": 5, "filter": {"k": "v"}, "include_values": true, "consistency": "strong"}"#,
    r#"{"session_id": "s", "role": "user", "content": "hi", "embedding": [1, 0, 0], "metadata": {}}"#,
    r#"{"embedding": [1, 0, 0], "k": 3, "session_id": "s", "include_embedding": true}"#,
    // Numbers at the edges of f32, exact decimals and integers past i64.
    r#"{"vectors": [{"id": "n", "values": [3.4028235e38, 1e-45, -0.0], "metadata": {"huge": 18446744073709551617, "neg": -9223372036854775809, "f": 1e308}}]}"#,
    r#"{"vector": [1.00000017881393432617187499, 1e-40, 0], "k": 3, "min_version": 18446744073709551615}"#,
    r#"{"vector": [0, 0, 0], "k": 2, "filter": {"huge": 18446744073709551617, "z": null, "s": "2", "b": true}}"#,
    r#"{"vector": [1e39, 1e-50, 1e400], "k": 1}"#,
    r#"{"vector": [9e18, 9e18, 9e18], "k": 2, "filter": {"f": 2.0}}"#,
    // ZeroDB's text routes and agent memory.
    r#"{"texts": ["hello", "world"], "metadata_list": [{"a": 1}, null], "namespace": "docs", "model": "fake/bytes-3"}"#,
    r#"{"documents": [{"id": "d", "text": "hi", "metadata": {"k": "v"}}], "namespace": "docs"}"#,
    r#"{"query": "hello", "limit": 3, "namespace": "docs", "threshold": 0.1, "filter_metadata": {"k": "v"}}"#,
    r#"{"content": "a fact", "namespace": "session:x", "importance": 0.9, "tags": ["t"], "metadata": {"k": 1}}"#,
    r#"{"query": "fact", "limit": 2, "allow_cross_namespace": true, "memory_id": "m"}"#,
    // ZeroDB's bodies, with the aliases its clients send.
    r#"{"query_vector": [1, 0, 0], "limit": 5, "namespace": "docs", "threshold": 0.5, "metadata_filter": {"k": {"$in": ["v", 2]}, "$or": [{"n.x": {"$gte": 1}}, {"k": {"$exists": true}}]}}"#,
    r#"{"vector": [1, 0, 0], "top_k": 3, "filter_metadata": {"k": "v"}}"#,
    r#"[{"vector_embedding": [1, 0, 0], "vector_id": "a", "namespace": "docs"}, {"vector": [1, 0], "id": "b"}]"#,
    r#"{"vectors": [{"values": [1, 0, 0], "metadata": {"k": "v"}, "document": "d", "source": "s"}]}"#,
    r#"{"content": "hi", "agent_id": "6f1c2a55-0d1e-4b8c-9a3d-2e4f6a8b0c1d", "session_id": "x", "role": "user", "memory_metadata": {"k": 1}, "embedding": [1, 0, 0]}"#,
    r#"{"query_vector": [1, 0, 0], "limit": 101, "session_id": "6f1c2a55-0d1e-4b8c-9a3d-2e4f6a8b0c1d"}"#,
];

/// The bodies to mutate: [`BODIES`], and a ZeroDB upsert of a dimension
/// ZeroDB stores (384), which passes validation and reaches the origin.
fn bodies() -> Vec<String> {
    let values = vec!["0.5"; 384].join(", ");
    let upsert = format!(
        r#"{{"vector_embedding": [{values}], "vector_id": "z", "namespace": "docs", "vector_metadata": {{"k": "v"}}}}"#
    );
    BODIES.iter().map(|b| b.to_string()).chain([upsert]).collect()
}

/// A request near a valid one: a known route and body, mutated; its key in
/// `Authorization` or (a third of the time) `X-API-Key`.
fn near_valid() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", ""]),
        prop::sample::select(PATHS.to_vec()),
        "[a-zA-Z0-9%/?&=._~-]{0,24}",
        prop::sample::select(bodies()),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<Option<prop::sample::Index>>(),
        prop::option::of("(Bearer|bearer|Basic) ?[ -~]{0,40}"),
        (
            prop::option::weighted(0.2, prop::sample::select(vec!["0", "1", "2", "x"])),
            prop::option::weighted(0.33, "[ -~]{0,12}"),
        ),
    )
        .prop_map(
            |(method, path, suffix, body, flips, cut, auth, (min_version, api_key))| {
                let mut body = body.as_bytes().to_vec();
                for (at, byte) in flips {
                    let at = at.index(body.len());
                    body[at] = byte;
                }
                if let Some(cut) = cut {
                    body.truncate(cut.index(body.len() + 1));
                }
                Request {
                    method: method.into(),
                    path: format!("{path}{suffix}"),
                    authorization: auth.or(Some("Bearer zdb_key".into())),
                    api_key,
                    content_type: None,
                    min_version: min_version.map(Into::into),
                    body,
                }
            },
        )
}

/// How the origin behaves for one request: it answers (half the time), or
/// from a session call on (or at that call only) it is unavailable (with
/// some Retry-After), says the collection is missing, or fails otherwise.
fn failure() -> impl Strategy<Value = Option<Failure>> {
    let fault = prop_oneof![
        3 => (1u32..=9).prop_map(|retry_after_secs| Fault::Unavailable { retry_after_secs }),
        1 => Just(Fault::Missing),
        1 => Just(Fault::Internal),
    ];
    prop::option::of(
        (fault, 0u32..4, any::<bool>()).prop_map(|(fault, after, transient)| Failure {
            fault,
            after,
            transient,
        }),
    )
}

/// Valid requests of the routes that read through the cache, few enough
/// that a sequence repeats them: they hit cached entries, and are answered
/// stale from them while the origin is down.
const VALID: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/projects/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors/search",
        r#"{"query_vector": [1, 0, 0], "limit": 5, "namespace": "docs"}"#,
    ),
    (
        "GET",
        "/v1/public/0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e/database/vectors/a?namespace=docs",
        "",
    ),
    (
        "POST",
        "/v1/collections/docs/search",
        r#"{"vector": [1, 0, 0], "k": 5}"#,
    ),
    (
        "POST",
        "/v1/collections/docs/search",
        r#"{"vector": [0.5, 0.5, 0], "k": 1, "include_values": true, "include_metadata": false}"#,
    ),
    (
        "POST",
        "/v1/collections/docs/search",
        r#"{"vector": [1, 0, 0], "k": 2, "filter": {"k": "v"}}"#,
    ),
    (
        "POST",
        "/v1/collections/docs/search",
        r#"{"vector": [1, 0, 0], "k": 5, "min_version": 2}"#,
    ),
    (
        "POST",
        "/v1/collections/docs/search",
        r#"{"vector": [1, 0, 0], "consistency": "strong"}"#,
    ),
    ("GET", "/v1/collections/docs/vectors/a", ""),
    ("GET", "/v1/collections/docs/vectors/b", ""),
    (
        "PUT",
        "/v1/collections/docs/vectors",
        r#"{"vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"k": "v"}}]}"#,
    ),
    ("GET", "/v1/collections/docs", ""),
    ("GET", "/v1/collections/docs/vectors?limit=2", ""),
    (
        "POST",
        "/v1/memory/search",
        r#"{"embedding": [1, 0, 0], "k": 3, "session_id": "s"}"#,
    ),
];

fn valid() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(VALID.to_vec()),
        prop::option::weighted(0.2, prop::sample::select(vec!["1", "2"])),
    )
        .prop_map(|((method, path, body), min_version)| Request {
            method: method.into(),
            path: path.into(),
            authorization: Some("Bearer zdb_key".into()),
            api_key: None,
            content_type: None,
            min_version: min_version.map(Into::into),
            body: body.as_bytes().to_vec(),
        })
}

/// Anything at all.
fn arbitrary() -> impl Strategy<Value = Request> {
    (
        "[ -~]{0,8}",
        "[ -~]{0,80}",
        prop::option::of("[ -~]{0,60}"),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(method, path, authorization, body)| Request {
            method,
            path,
            authorization,
            body,
            ..Request::default()
        })
}

fn cases() -> u32 {
    // `scripts/fuzz` raises the count through ZERODB_FUZZ_CASES.
    std::env::var("ZERODB_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

/// Sequences of near-valid and valid requests on one edge (cached state from earlier
/// requests is exercised too), each meeting an origin that answers or fails
/// as the input says, under the default TTL or one that makes every entry
/// expire at once (so entries are stale-only as soon as they are stored).
/// Counts what became of the requests and requires, on a run of at least
/// 1000 cases, that each kind of outcome happened: the rules of the check
/// were all exercised.
#[test]
fn near_valid_requests_never_break_the_front() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: cases(),
        source_file: Some(file!()),
        ..ProptestConfig::default()
    });
    let outcomes = RefCell::new(BTreeMap::<Outcome, u32>::new());
    let strategy = (
        prop::collection::vec((prop_oneof![1 => near_valid(), 2 => valid()], failure()), 1..12),
        any::<bool>(),
    );
    let result = runner.run(&strategy, |(requests, expire_at_once)| {
        let edge = Edge::new(CacheConfig {
            ttl: if expire_at_once {
                Duration::ZERO
            } else {
                CacheConfig::default().ttl
            },
            ..CacheConfig::default()
        });
        for (request, failure) in &requests {
            let (outcome, _) = fake_origin::check_with(&edge, request, *failure);
            *outcomes.borrow_mut().entry(outcome).or_default() += 1;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let outcomes = outcomes.into_inner();
    println!("outcomes: {outcomes:?}");
    if cases() >= 1000 {
        for outcome in [
            Outcome::Answered,
            Outcome::Stale,
            Outcome::OriginError,
            Outcome::EdgeError,
            Outcome::VersionNotReached,
        ] {
            assert!(outcomes.contains_key(&outcome), "no {outcome:?} in {outcomes:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_requests_never_break_the_front(request in arbitrary(), failure in failure()) {
        fake_origin::check_with(&Edge::new(CacheConfig::default()), &request, failure);
    }
}

/// The rules the property checks, played once in order, each outcome named:
/// a cached search is served stale while the origin is unavailable (the
/// same hits, `source: "edge"`), an uncached one gets the origin's 503 and
/// its Retry-After, an internal error is a 500 never covered by the cache,
/// and a missing collection is a 404 after which nothing of it is served.
#[test]
fn origin_failures_reach_the_client_as_the_front_promises() {
    let edge = Edge::new(CacheConfig::default());
    let request = |method: &str, path: &str, body: &str| Request {
        method: method.into(),
        path: path.into(),
        authorization: Some("Bearer zdb_key".into()),
        api_key: None,
        content_type: None,
        min_version: None,
        body: body.as_bytes().to_vec(),
    };
    let search = request(
        "POST",
        "/v1/collections/docs/search",
        r#"{"vector": [1, 0, 0], "k": 5}"#,
    );
    let other = request(
        "POST",
        "/v1/collections/docs/search",
        r#"{"vector": [0, 1, 0], "k": 5}"#,
    );
    let vector = request("GET", "/v1/collections/docs/vectors/a", "");
    let down = |retry_after_secs| {
        Some(Failure {
            fault: Fault::Unavailable { retry_after_secs },
            after: 0,
            transient: false,
        })
    };
    let answer = |edge: &Edge, request: &Request, failure| {
        let (outcome, response) = fake_origin::check_with(edge, request, failure);
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        (
            outcome,
            response.status,
            response.header("retry-after").map(String::from),
            body,
        )
    };

    let (outcome, status, _, fresh) = answer(&edge, &search, None);
    assert_eq!(
        (outcome, status, fresh["source"].as_str()),
        (Outcome::Answered, 200, Some("origin"))
    );
    assert_eq!(answer(&edge, &vector, None).0, Outcome::Answered);

    // Down: the cached search and vector are served stale; the other search is a 503.
    let (outcome, status, retry, stale) = answer(&edge, &search, down(7));
    assert_eq!((outcome, status, retry), (Outcome::Stale, 200, None));
    assert_eq!(
        (&stale["hits"], stale["source"].as_str()),
        (&fresh["hits"], Some("edge"))
    );
    assert_eq!(answer(&edge, &vector, down(7)).0, Outcome::Stale);
    let (outcome, status, retry, error) = answer(&edge, &other, down(7));
    assert_eq!(
        (outcome, status, retry.as_deref()),
        (Outcome::OriginError, 503, Some("7"))
    );
    assert_eq!(error["error"]["code"], "database_unavailable");
    // With x-zerodb-min-version and no current token, a vector is not served stale.
    let pinned = Request {
        min_version: Some("1".into()),
        ..vector.clone()
    };
    assert_eq!(answer(&edge, &pinned, down(4)).0, Outcome::OriginError);

    // An internal error is passed on; the cache does not cover it.
    let (outcome, status, retry, error) = answer(
        &edge,
        &search,
        Some(Failure {
            fault: Fault::Internal,
            after: 0,
            transient: false,
        }),
    );
    assert_eq!((outcome, status, retry), (Outcome::OriginError, 500, None));
    assert_eq!(error["error"]["code"], "internal");

    // The collection is gone: 404, and its entries with it.
    let missing = Some(Failure {
        fault: Fault::Missing,
        after: 0,
        transient: false,
    });
    let (outcome, status, _, error) = answer(&edge, &search, missing);
    assert_eq!((outcome, status), (Outcome::OriginError, 404));
    assert_eq!(error["error"]["code"], "collection_not_found");
    assert_eq!(answer(&edge, &search, down(2)).0, Outcome::OriginError);
    assert_eq!(answer(&edge, &vector, down(2)).0, Outcome::OriginError);
}

/// Requests that once mattered: `tests/corpus/*.json`, each
/// `{"method", "path", "authorization"?, "body"}`.
#[test]
fn corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let edge = Edge::new(CacheConfig::default());
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let case: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let request = Request {
            method: case["method"].as_str().unwrap().into(),
            path: case["path"].as_str().unwrap().into(),
            authorization: case["authorization"].as_str().map(Into::into),
            api_key: None,
            content_type: None,
            min_version: None,
            body: case["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
        };
        fake_origin::check(&edge, &request);
        // And again with the origin down, then missing the collection.
        for fault in [Fault::Unavailable { retry_after_secs: 3 }, Fault::Missing] {
            fake_origin::check_with(
                &edge,
                &request,
                Some(Failure {
                    fault,
                    after: 0,
                    transient: false,
                }),
            );
        }
        replayed += 1;
    }
    assert!(replayed > 0);
}
