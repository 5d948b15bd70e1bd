//! The JSON bodies of ZeroDB's dialect: what its clients send, under the
//! current field names and the aliases older clients still send, and the
//! shapes they read back. Unknown fields are ignored (clients send extras
//! such as `include_metadata` or `dimensions`).

use crate::model::*;
use crate::wire::exact_f32s;
use crate::wire::StoredJson;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One vector to upsert (`VectorCreate`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbVectorIn))]
pub struct VectorIn {
    #[serde(
        alias = "vector",
        alias = "values",
        alias = "embedding",
        deserialize_with = "exact_f32s"
    )]
    /// 384, 768, 1024 or 1536 finite values.
    pub vector_embedding: Vec<f32>,
    /// A UUID is made when none is given; the same id replaces the vector.
    #[serde(alias = "id")]
    pub vector_id: Option<String>,
    /// `default` when none is given; 1 to 64 of `A-Za-z0-9_-`.
    pub namespace: Option<String>,
    /// A JSON object, at most 64 KiB.
    #[serde(alias = "metadata")]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub vector_metadata: Option<Value>,
    /// The text the vector was made from, at most 256 KiB.
    pub document: Option<String>,
    /// Where the text came from (free text), at most 256 KiB.
    pub source: Option<String>,
}

/// A search by vector (`VectorSearchRequest`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbSearch))]
pub struct Search {
    /// The query, of the namespace's dimension.
    #[serde(alias = "vector", deserialize_with = "exact_f32s")]
    pub query_vector: Vec<f32>,
    /// Hits at most, 1 to 100 (10 when not given).
    #[serde(alias = "top_k")]
    pub limit: Option<i64>,
    /// Drops hits whose cosine similarity is below it (0 to 1); none drops none.
    #[serde(alias = "similarity_threshold")]
    pub threshold: Option<f32>,
    /// The namespace to search; every cosine namespace of the query's
    /// dimension when none is given.
    pub namespace: Option<String>,
    /// A filter over `vector_metadata` (the README's filter language).
    #[serde(alias = "filter_metadata", alias = "filter")]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub metadata_filter: Option<Value>,
    /// Whether hits carry `vector_embedding` (true when not given).
    #[serde(alias = "include_values")]
    pub include_embeddings: Option<bool>,
}

/// What a search body says before its vector is read: the namespace (its
/// answer may then be replayed by the body's bytes) and the threshold.
#[derive(Deserialize)]
pub struct Named {
    pub namespace: Option<String>,
    #[serde(alias = "similarity_threshold")]
    pub threshold: Option<f32>,
}

/// A project memory record to create.
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbMemoryIn))]
pub struct MemoryIn {
    #[serde(alias = "id")]
    pub memory_id: Option<String>,
    pub content: String,
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
    pub role: Option<String>,
    #[serde(alias = "metadata")]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub memory_metadata: Option<Value>,
    #[serde(default, deserialize_with = "optional_f32s")]
    pub embedding: Option<Vec<f32>>,
}

/// A partial update of a memory record: the fields given replace the stored ones.
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbMemoryUpdate))]
pub struct MemoryUpdate {
    pub content: Option<String>,
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
    pub role: Option<String>,
    #[serde(alias = "metadata")]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub memory_metadata: Option<Value>,
    #[serde(default, deserialize_with = "optional_f32s")]
    pub embedding: Option<Vec<f32>>,
}

/// A search over memory records by embedding.
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbMemorySearch))]
pub struct MemorySearch {
    #[serde(alias = "query_vector", alias = "vector", deserialize_with = "exact_f32s")]
    pub embedding: Vec<f32>,
    #[serde(alias = "top_k")]
    pub limit: Option<i64>,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    pub role: Option<String>,
}

/// Texts to embed (`embeddings/generate`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbGenerate))]
pub struct Generate {
    /// 1 to 100 texts, each non-blank and at most 32 KiB.
    #[serde(alias = "input")]
    pub texts: Vec<String>,
    /// One of `embeddings/models`; the default when none is given.
    pub model: Option<String>,
    /// Whether vectors are of unit length: when given, it must be the
    /// model's form (each model answers one).
    pub normalize: Option<bool>,
}

/// One document of `embed-and-store`'s `documents` form.
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbDocumentIn))]
pub struct DocumentIn {
    /// The vector's id; a UUID is made when none is given.
    #[serde(alias = "vector_id")]
    pub id: Option<String>,
    /// The text to embed and store as the vector's `document`.
    #[serde(alias = "content", alias = "document")]
    pub text: String,
    #[serde(alias = "vector_metadata")]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
}

/// Texts to embed and store (`embeddings/embed-and-store`), in each form
/// ZeroDB's clients send: `texts` with `metadata_list` (or `metadatas`,
/// or one `metadata` for all) and optional `ids`; or `documents`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbEmbedAndStore))]
pub struct EmbedAndStore {
    /// 1 to 100 texts (or give `documents`).
    #[serde(default)]
    pub texts: Vec<String>,
    /// One metadata object (or null) per text.
    #[serde(alias = "metadatas")]
    #[cfg_attr(test, schema(value_type = Option<Vec<Object>>))]
    pub metadata_list: Option<Vec<Value>>,
    /// One metadata object for every text.
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
    /// One id per text; UUIDs are made when none are given.
    #[serde(alias = "vector_ids")]
    pub ids: Option<Vec<String>>,
    /// `{id, text, metadata}` objects, instead of `texts`.
    pub documents: Option<Vec<DocumentIn>>,
    /// `default` when none is given.
    pub namespace: Option<String>,
    /// One of `embeddings/models`; must be the namespace's when it has one.
    pub model: Option<String>,
}

/// A search by text (`embeddings/search`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbTextSearch))]
pub struct TextSearch {
    /// The text to search by (non-blank, at most 32 KiB).
    pub query: String,
    /// Hits at most, 1 to 100 (10 when not given).
    #[serde(alias = "top_k")]
    pub limit: Option<i64>,
    /// Drops hits whose cosine similarity is below it (0 to 1; 0.7 when
    /// not given, as ZeroDB).
    #[serde(alias = "similarity_threshold")]
    pub threshold: Option<f32>,
    /// `default` when none is given.
    pub namespace: Option<String>,
    /// Must be the namespace's model, when it has one.
    pub model: Option<String>,
    /// A filter over the vectors' metadata (the README's filter language).
    #[serde(alias = "filter", alias = "metadata_filter")]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub filter_metadata: Option<Value>,
    /// Whether hits carry `vector_embedding` (false when not given).
    #[serde(alias = "include_values")]
    pub include_embeddings: Option<bool>,
}

/// A memory to store (memory v2 `remember`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbRemember))]
pub struct Remember {
    /// The memory's text (non-blank, at most 32 KiB).
    pub content: String,
    /// The conversation it came from (kept and answered, not a scope).
    pub session_id: Option<String>,
    /// `global` when none is given; any string up to 128 bytes (e.g.
    /// `session:<id>`).
    pub namespace: Option<String>,
    /// The caller's own JSON object, answered back by `recall`.
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
    /// Whom the memory is about; `recall` may ask for one entity's only.
    #[serde(alias = "agent_id")]
    pub entity_id: Option<String>,
    /// `working`, `episodic` (the default) or `semantic`.
    pub memory_type: Option<String>,
    /// 0 to 1 (0.5 when not given).
    pub importance: Option<f64>,
    /// Free labels, answered back by `recall`.
    pub tags: Option<Vec<String>>,
}

/// A text to recall memories by (memory v2 `recall`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbRecall))]
pub struct Recall {
    /// The text to recall by (non-blank, at most 32 KiB).
    pub query: String,
    /// 1 to 100 (10 when not given).
    #[serde(alias = "top_k")]
    pub limit: Option<i64>,
    /// `global` when none is given.
    pub namespace: Option<String>,
    /// Recall from every namespace.
    pub allow_cross_namespace: Option<bool>,
    /// Only memories of this entity. (A `session_id` is accepted and
    /// ignored: memories are scoped by namespace.)
    #[serde(alias = "agent_id")]
    pub entity_id: Option<String>,
}

/// A memory to forget (memory v2 `forget`).
#[derive(Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = ZeroDbForget))]
pub struct Forget {
    /// The id `remember` answered.
    #[serde(alias = "id")]
    pub memory_id: String,
}

fn optional_f32s<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<f32>>, D::Error> {
    exact_f32s(deserializer).map(Some)
}

/// Microseconds since the Unix epoch as ZeroDB writes times: ISO-8601 UTC
/// with microseconds and a `Z` (`2026-12-01T06:45:19.123456Z`).
pub fn timestamp(micros: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros);
    humantime::format_rfc3339_micros(at).to_string()
}

/// A vector object as ZeroDB answers it: `vector_id`, `project_id`,
/// `namespace`, `vector_embedding` (when asked for), `vector_metadata`,
/// `document`, `source`, `created_at`, and for a search hit `similarity`.
/// Written straight from the record (not through a `Value` tree): a search
/// answers up to 100 of them, each with up to 1536 values.
#[derive(Serialize)]
pub struct VectorOut<'a> {
    vector_id: &'a str,
    project_id: &'a str,
    namespace: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector_embedding: Option<&'a [f32]>,
    vector_metadata: Option<StoredJson<'a>>,
    document: Option<&'a str>,
    source: Option<&'a str>,
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    similarity: Option<f32>,
}

/// A stored vector as a vector object, with its embedding when `with_values`.
pub fn vector<'a>(project: &'a str, namespace: &'a str, record: &'a VectorRecord, with_values: bool) -> VectorOut<'a> {
    VectorOut {
        vector_id: &record.id,
        project_id: project,
        namespace,
        vector_embedding: with_values.then_some(&record.values[..]),
        vector_metadata: Some(StoredJson(&record.metadata)),
        document: record.document.as_deref(),
        source: record.source.as_deref(),
        created_at: Some(timestamp(record.written_at_us)),
        similarity: None,
    }
}

/// A search hit as a vector object with its `similarity`.
pub fn hit<'a>(project: &'a str, namespace: &'a str, hit: &'a SearchHit) -> VectorOut<'a> {
    VectorOut {
        vector_id: &hit.id,
        project_id: project,
        namespace,
        vector_embedding: hit.values.as_deref(),
        vector_metadata: hit.metadata.as_deref().map(StoredJson),
        document: hit.document.as_deref(),
        source: hit.source.as_deref(),
        created_at: hit.written_at_us.map(timestamp),
        similarity: Some(hit.score),
    }
}

/// A search's answer: `{vectors, total_count, search_time_ms}`.
#[derive(Serialize)]
pub struct SearchOut<'a> {
    /// Best first.
    pub vectors: Vec<VectorOut<'a>>,
    /// How many hits.
    pub total_count: usize,
    /// The search's time at the edge, in milliseconds.
    pub search_time_ms: f64,
}

/// A project memory record: `memory_id`, `project_id`, `agent_id`,
/// `session_id`, `role`, `content`, `memory_metadata`, `created_at`.
pub fn memory(project: &str, record: &MemoryRecord) -> Value {
    json!({
        "memory_id": record.id,
        "project_id": project,
        "agent_id": record.agent_id,
        "session_id": record.session_id,
        "role": record.role,
        "content": record.content,
        "memory_metadata": serde_json::from_str::<Value>(&record.metadata).unwrap_or(Value::Null),
        "created_at": timestamp(record.created_at_ms * 1000),
    })
}
