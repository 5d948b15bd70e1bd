//! An origin that always succeeds, and the check every fuzzed answer must
//! pass: shared by the property suite (`tests/fuzz.rs`) and the cargo-fuzz
//! target (`fuzz/fuzz_targets/edge_request.rs`).

use edge_core::model::*;
use edge_core::origin::{Connect, Origin};
use edge_core::{Edge, Request};

pub struct FakeOrigin;

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
    fn collection_token(&self, _name: &str) -> Result<Option<Token>, ApiError> {
        Ok(Some(Token {
            incarnation: 1,
            version: 1,
        }))
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
pub fn check(edge: &mut Edge, request: &Request) {
    let response = edge.handle(&FakeOrigin, request);
    // The one 5xx a fake that always succeeds can earn: a `min_version`
    // past the fake collection's version (1), which the origin never reaches.
    let not_reached = response.status == 503 && String::from_utf8_lossy(&response.body).contains("version_not_reached");
    assert!(
        response.status < 500 || not_reached,
        "{} {} got {}: {}",
        request.method,
        request.path,
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    assert!(response.header("x-zerodb-cache").is_some());
    // No answer carries a score that is not a finite number (JSON has no
    // NaN or infinity: serde writes them as null).
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(&response.body) {
        for hit in body["hits"].as_array().into_iter().flatten() {
            assert!(
                hit["score"].as_f64().is_some_and(f64::is_finite),
                "{} {} answered a hit without a finite score: {hit}",
                request.method,
                request.path
            );
        }
    }
    if response.status >= 400 {
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("errors are JSON");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{body}"
        );
    }
}
