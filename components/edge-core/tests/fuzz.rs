//! Property-based fuzzing of the edge front's request handling: any method,
//! path, header and body must get an answer (never a panic), every error is
//! JSON `{"error":{"code","message"}}`, and no malformed input gets a 5xx.
//! The origin is a fake that always succeeds, so a 5xx can only come from
//! the front itself. `scripts/fuzz` runs this longer; `tests/corpus/`
//! holds requests that once mattered, replayed on every run.

#[path = "support/fake_origin.rs"]
mod fake_origin;

use edge_core::cache::CacheConfig;
use edge_core::{Edge, Request};
use proptest::prelude::*;

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
];

/// A request near a valid one: a known route and body, mutated.
fn near_valid() -> impl Strategy<Value = Request> {
    (
        prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", ""]),
        prop::sample::select(PATHS.to_vec()),
        "[a-zA-Z0-9%/?&=._~-]{0,24}",
        prop::sample::select(BODIES.to_vec()),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        any::<Option<prop::sample::Index>>(),
        prop::option::of("(Bearer|bearer|Basic) ?[ -~]{0,40}"),
    )
        .prop_map(|(method, path, suffix, body, flips, cut, auth)| {
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
                content_type: None,
                min_version: None,
                body,
            }
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
            content_type: None,
            min_version: None,
            body,
        })
}

proptest! {
    // `scripts/fuzz` raises the count through ZERODB_FUZZ_CASES.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("ZERODB_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn near_valid_requests_never_break_the_front(requests in prop::collection::vec(near_valid(), 1..8)) {
        // One edge for the sequence: cached state from earlier requests is exercised too.
        let mut edge = Edge::new(CacheConfig::default());
        for request in &requests {
            fake_origin::check(&mut edge, request);
        }
    }

    #[test]
    fn arbitrary_requests_never_break_the_front(request in arbitrary()) {
        fake_origin::check(&mut Edge::new(CacheConfig::default()), &request);
    }
}

/// Requests that once mattered: `tests/corpus/*.json`, each
/// `{"method", "path", "authorization"?, "body"}`.
#[test]
fn corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut edge = Edge::new(CacheConfig::default());
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let case: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let request = Request {
            method: case["method"].as_str().unwrap().into(),
            path: case["path"].as_str().unwrap().into(),
            authorization: case["authorization"].as_str().map(Into::into),
            content_type: None,
            min_version: None,
            body: case["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
        };
        fake_origin::check(&mut edge, &request);
        replayed += 1;
    }
    assert!(replayed > 0);
}
