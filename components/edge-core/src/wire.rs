//! JSON bodies of the v1 API: what clients send (strict: unknown fields are
//! rejected so a typo is an error, not a silent default) and what they get.

use crate::model::*;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// The message of a value too large for f32; [`crate::validate::json_body`]
/// answers it with 422 `invalid_vector`.
pub(crate) const F32_OVERFLOW: &str = "overflows f32";

/// Reads a JSON array of numbers as f32 values, each rounded once, straight
/// from its decimal text to the nearest f32 (as pgvector's own input does
/// with `strtof`): never through f64, which would round twice. Subnormals
/// are kept; a value past f32's range is refused (`3.4028235e38`, which
/// rounds to `f32::MAX`, is not past it).
pub fn exact_f32s<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    use serde::de::Error;
    let raw: Vec<&serde_json::value::RawValue> = Vec::deserialize(deserializer)?;
    raw.iter()
        .enumerate()
        .map(|(at, value)| {
            let text = value.get();
            if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                return Err(D::Error::custom(format!(
                    "vector value at index {at} is not a number: {text}"
                )));
            }
            match text.parse::<f32>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(D::Error::custom(format!(
                    "vector value at index {at} ({text}) {F32_OVERFLOW}"
                ))),
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateCollection {
    pub dims: Option<i64>,
    pub metric: Option<Metric>,
    pub index: Option<IndexKind>,
    pub cache_similarity: Option<f32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upsert {
    pub vectors: Vec<VectorIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorIn {
    pub id: String,
    #[serde(deserialize_with = "exact_f32s")]
    pub values: Vec<f32>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    #[default]
    Eventual,
    Strong,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    #[serde(deserialize_with = "exact_f32s")]
    pub vector: Vec<f32>,
    pub k: Option<i64>,
    pub filter: Option<Value>,
    #[serde(default)]
    pub include_values: bool,
    pub include_metadata: Option<bool>,
    #[serde(default)]
    pub consistency: Consistency,
    /// Read at least this collection version (the `version` a write
    /// returned): read-your-writes across edges.
    pub min_version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryIn {
    pub id: Option<String>,
    pub session_id: String,
    pub role: String,
    pub content: String,
    #[serde(deserialize_with = "exact_f32s")]
    pub embedding: Vec<f32>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySearch {
    #[serde(deserialize_with = "exact_f32s")]
    pub embedding: Vec<f32>,
    pub k: Option<i64>,
    pub session_id: Option<String>,
    #[serde(default)]
    pub include_embedding: bool,
}

/// Stored JSON text back to a value; the origin only stores validated objects.
fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub fn collection(info: &CollectionInfo) -> Value {
    json!({
        "name": info.name,
        "dims": info.spec.dims,
        "metric": info.spec.metric,
        "index": info.spec.index,
        "cache_similarity": info.spec.cache_similarity,
        "count": info.count,
        "version": info.version,
    })
}

pub fn vector(record: &VectorRecord) -> Value {
    json!({"id": record.id, "values": record.values, "metadata": parse_json(&record.metadata)})
}

pub fn search(result: &SearchResult, source: &str) -> Value {
    let hits: Vec<Value> = result
        .hits
        .iter()
        .map(|hit| {
            let mut out = json!({"id": hit.id, "score": hit.score});
            if let Some(metadata) = &hit.metadata {
                out["metadata"] = parse_json(metadata);
            }
            if let Some(values) = &hit.values {
                out["values"] = json!(values);
            }
            out
        })
        .collect();
    json!({"hits": hits, "source": source, "version": result.version})
}

pub fn memory(record: &MemoryRecord, include_embedding: bool) -> Value {
    let mut out = json!({
        "id": record.id,
        "session_id": record.session_id,
        "role": record.role,
        "content": record.content,
        "metadata": parse_json(&record.metadata),
        "created_at_ms": record.created_at_ms,
    });
    if include_embedding {
        out["embedding"] = json!(record.embedding);
    }
    out
}

pub fn memory_hits(hits: &[MemoryHit], include_embedding: bool) -> Value {
    let hits: Vec<Value> = hits
        .iter()
        .map(|hit| {
            let mut out = memory(&hit.memory, include_embedding);
            out["score"] = json!(hit.score);
            out
        })
        .collect();
    json!({"hits": hits, "source": "origin"})
}
