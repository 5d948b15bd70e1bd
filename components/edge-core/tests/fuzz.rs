//! Property-based fuzzing of the edge front's request handling: any method,
//! path, header and body must get an answer (never a panic), every error is
//! JSON `{"error":{"code","message"}}`, and no malformed input gets a 5xx.
//! The origin is a fake that always succeeds, so a 5xx can only come from
//! the front itself. `scripts/fuzz` runs this longer; `tests/corpus/`
//! holds requests that once mattered, replayed on every run.

use edge_core::cache::CacheConfig;
use edge_core::model::*;
use edge_core::origin::{Connect, Origin};
use edge_core::{Edge, Request};
use proptest::prelude::*;

struct FakeOrigin;

fn collection(name: &str) -> CollectionInfo {
    CollectionInfo {
        name: name.into(),
        spec: CollectionSpec {
            dims: 3,
            metric: Metric::Cosine,
            index: IndexKind::Hnsw,
            cache_similarity: 1.0,
        },
        count: 2,
        version: 1,
    }
}

fn record(id: &str) -> VectorRecord {
    VectorRecord {
        id: id.into(),
        values: vec![1.0, 0.0, 0.0],
        metadata: "{}".into(),
    }
}

fn memory(id: &str) -> MemoryRecord {
    MemoryRecord {
        id: id.into(),
        session_id: "s".into(),
        role: "user".into(),
        content: "c".into(),
        embedding: vec![1.0, 0.0, 0.0],
        metadata: "{}".into(),
        created_at_ms: 0,
    }
}

impl Connect for FakeOrigin {
    type Session = FakeOrigin;
    fn open(&self, _api_key: &str) -> Result<FakeOrigin, ApiError> {
        Ok(FakeOrigin)
    }
    fn health(&self) -> String {
        r#"{"status":"ok"}"#.into()
    }
}

impl Origin for FakeOrigin {
    fn project(&self) -> String {
        "1".into()
    }
    fn create_collection(&self, name: &str, _spec: CollectionSpec) -> Result<CollectionInfo, ApiError> {
        Ok(collection(name))
    }
    fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError> {
        Ok(collection(name))
    }
    fn drop_collection(&self, _name: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn upsert(&self, _collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError> {
        Ok(WriteResult {
            affected: records.len() as u64,
            version: 2,
        })
    }
    fn get(&self, _collection: &str, id: &str) -> Result<VectorRecord, ApiError> {
        Ok(record(id))
    }
    fn list_vectors(&self, _collection: &str, _after: Option<&str>, _limit: u32) -> Result<VectorPage, ApiError> {
        Ok(VectorPage {
            records: vec![record("a"), record("b")],
            next: None,
            version: 1,
        })
    }
    fn delete(&self, _collection: &str, _id: &str) -> Result<WriteResult, ApiError> {
        Ok(WriteResult {
            affected: 1,
            version: 2,
        })
    }
    fn search(&self, _collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError> {
        let hit = SearchHit {
            id: "a".into(),
            score: 1.0,
            values: request.include_values.then(|| vec![1.0, 0.0, 0.0]),
            metadata: request.include_metadata.then(|| "{}".into()),
        };
        Ok(SearchResult {
            hits: vec![hit],
            version: 1,
        })
    }
    fn put_memory(&self, m: NewMemory) -> Result<MemoryRecord, ApiError> {
        Ok(memory(m.id.as_deref().unwrap_or("generated")))
    }
    fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError> {
        Ok(memory(id))
    }
    fn delete_memory(&self, _id: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn search_memory(&self, _query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError> {
        Ok(vec![MemoryHit {
            memory: memory("m"),
            score: 1.0,
        }])
    }
    fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError> {
        Ok(FileInfo {
            key: key.into(),
            size: file.body.len() as u64,
            etag: None,
        })
    }
    fn get_file(&self, _key: &str) -> Result<File, ApiError> {
        Ok(File {
            content_type: "text/plain".into(),
            body: b"x".to_vec(),
        })
    }
    fn delete_file(&self, _key: &str) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Answers `request` and checks the answer's shape.
fn check(edge: &mut Edge, request: &Request) {
    let response = edge.handle(&FakeOrigin, request);
    assert!(
        response.status < 500,
        "{} {} got {}: {}",
        request.method,
        request.path,
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    assert!(response.header("x-zerodb-cache").is_some());
    if response.status >= 400 {
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("errors are JSON");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{body}"
        );
    }
}

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
            check(&mut edge, request);
        }
    }

    #[test]
    fn arbitrary_requests_never_break_the_front(request in arbitrary()) {
        check(&mut Edge::new(CacheConfig::default()), &request);
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
            body: case["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
        };
        check(&mut edge, &request);
        replayed += 1;
    }
    assert!(replayed > 0);
}
