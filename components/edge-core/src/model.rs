//! The data the edge and the origin exchange, mirroring `wit/zerodb-edge.wit`
//! (the types of `zerodb:edge/origin`) so this crate builds and tests without wasm.

use serde::{Deserialize, Serialize};

/// How vectors of a collection are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Cosine,
    L2,
    Dot,
}

/// The index a collection is searched through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    Hnsw,
    Ivfflat,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionSpec {
    pub dims: u32,
    pub metric: Metric,
    pub index: IndexKind,
    /// Cosine similarity at which a cached query answers a new one (1.0 = exact).
    pub cache_similarity: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    pub name: String,
    pub spec: CollectionSpec,
    pub count: u64,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorRecord {
    pub id: String,
    pub values: Vec<f32>,
    /// JSON object text.
    pub metadata: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorPage {
    pub records: Vec<VectorRecord>,
    pub next: Option<String>,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub vector: Vec<f32>,
    pub k: u32,
    /// JSON object text.
    pub filter: Option<String>,
    pub include_values: bool,
    pub include_metadata: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub id: String,
    pub score: f32,
    pub values: Option<Vec<f32>>,
    pub metadata: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    pub version: u64,
}

/// A collection's coherence token (`zerodb:edge/origin.token`): its
/// incarnation (new and larger each time the name is created) and its
/// version within it. Ordered as (incarnation, version); tokens of one name
/// only grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Token {
    pub incarnation: u64,
    pub version: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResult {
    pub affected: u64,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    pub id: String,
    pub session_id: String,
    pub role: String,
    pub content: String,
    pub embedding: Vec<f32>,
    pub metadata: String,
    pub created_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewMemory {
    pub id: Option<String>,
    pub session_id: String,
    pub role: String,
    pub content: String,
    pub embedding: Vec<f32>,
    pub metadata: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryQuery {
    pub embedding: Vec<f32>,
    pub k: u32,
    pub session_id: Option<String>,
    pub include_embedding: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryHit {
    pub memory: MemoryRecord,
    pub score: f32,
}

/// A file in the project's object store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct File {
    pub content_type: String,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
}
