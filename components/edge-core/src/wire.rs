//! JSON bodies of the v1 API: what clients send (strict: unknown fields are
//! rejected so a typo is an error, not a silent default) and what they get.

use crate::model::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
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
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = V1CreateCollection))]
pub struct CreateCollection {
    pub dims: Option<i64>,
    pub metric: Option<Metric>,
    pub index: Option<IndexKind>,
    pub cache_similarity: Option<f32>,
    /// The embedding model the collection's vectors come from: searches may
    /// then give `text`. `dims` defaults to the model's.
    pub model: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = V1Upsert))]
pub struct Upsert {
    pub vectors: Vec<VectorIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = V1VectorIn))]
pub struct VectorIn {
    pub id: String,
    #[serde(deserialize_with = "exact_f32s")]
    pub values: Vec<f32>,
    #[serde(default)]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    #[default]
    Eventual,
    Strong,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = V1Search))]
pub struct Search {
    /// The query vector; or give `text` instead.
    #[serde(default, deserialize_with = "exact_f32s")]
    pub vector: Vec<f32>,
    /// A text to search by, embedded with the collection's model (a
    /// collection created with `model`); instead of `vector`.
    pub text: Option<String>,
    pub k: Option<i64>,
    #[cfg_attr(test, schema(value_type = Option<Object>))]
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
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = V1MemoryIn))]
pub struct MemoryIn {
    pub id: Option<String>,
    pub session_id: String,
    pub role: String,
    pub content: String,
    #[serde(deserialize_with = "exact_f32s")]
    pub embedding: Vec<f32>,
    #[serde(default)]
    #[cfg_attr(test, schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(test, derive(utoipa::ToSchema), schema(as = V1MemorySearch))]
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
        "model": info.spec.model,
        "count": info.count,
        "version": info.version,
    })
}

/// A stored JSON text, sent as it is (its own bytes, numbers and all); `null`
/// when it is not valid JSON (never so for what the origin stores).
pub(crate) struct StoredJson<'a>(pub &'a str);

impl Serialize for StoredJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(self.0) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_none(),
        }
    }
}

// The answers served most (cached reads) are written straight from the
// model, not through a `Value` tree. Their fields are declared in the
// order a `Value` map sorts them, so both render the same bytes.

#[derive(Serialize)]
struct VectorOut<'a> {
    id: &'a str,
    metadata: StoredJson<'a>,
    values: &'a [f32],
}

#[derive(Serialize)]
struct HitOut<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<StoredJson<'a>>,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<&'a [f32]>,
}

#[derive(Serialize)]
struct SearchOut<'a> {
    hits: Vec<HitOut<'a>>,
    source: &'a str,
    version: u64,
}

fn vector_out(record: &VectorRecord) -> VectorOut<'_> {
    VectorOut {
        id: &record.id,
        metadata: StoredJson(&record.metadata),
        values: &record.values,
    }
}

/// A vector as `GET …/vectors/{id}` answers it: `{id, metadata, values}`.
pub fn vector(record: &VectorRecord) -> Vec<u8> {
    serde_json::to_vec(&vector_out(record)).unwrap_or_default()
}

/// A page of vectors as `GET …/vectors` answers it.
pub fn vector_page(page: &VectorPage) -> Vec<u8> {
    #[derive(Serialize)]
    struct PageOut<'a> {
        next: Option<&'a str>,
        vectors: Vec<VectorOut<'a>>,
        version: u64,
    }
    let page = PageOut {
        next: page.next.as_deref(),
        vectors: page.records.iter().map(vector_out).collect(),
        version: page.version,
    };
    serde_json::to_vec(&page).unwrap_or_default()
}

/// A search's answer: `{hits: [{id, metadata?, score, values?}], source,
/// version}`; `source` says where it was answered (`edge` or `origin`).
pub fn search(result: &SearchResult, source: &str) -> Vec<u8> {
    let out = SearchOut {
        hits: result
            .hits
            .iter()
            .map(|hit| HitOut {
                id: &hit.id,
                metadata: hit.metadata.as_deref().map(StoredJson),
                score: hit.score,
                values: hit.values.as_deref(),
            })
            .collect(),
        source,
        version: result.version,
    };
    serde_json::to_vec(&out).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the typed answers must equal: the `Value` trees they replace.
    fn as_value_tree(result: &SearchResult, source: &str) -> Value {
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

    #[test]
    fn typed_answers_equal_their_value_trees() {
        let metadata = r#"{"z": 1, "big": 123456789012345678901234567890, "x": 0.1, "nested": {"b": [1, 2.50]}}"#;
        let result = SearchResult {
            hits: vec![
                SearchHit {
                    id: "a".into(),
                    score: 0.1,
                    values: Some(vec![1e-45, -0.0, 3.4028235e38, 0.3]),
                    metadata: Some(metadata.into()),
                    document: None,
                    source: None,
                    written_at_us: None,
                },
                SearchHit {
                    id: "b\"\\é".into(),
                    score: -1.234_567_9e-7,
                    values: None,
                    metadata: None,
                    document: None,
                    source: None,
                    written_at_us: None,
                },
                SearchHit {
                    id: "c".into(),
                    score: 2.0,
                    values: None,
                    metadata: Some("not json".into()),
                    document: None,
                    source: None,
                    written_at_us: None,
                },
            ],
            version: u64::MAX,
        };
        let typed: Value = serde_json::from_slice(&search(&result, "edge")).unwrap();
        assert_eq!(typed, as_value_tree(&result, "edge"));
        // Stored metadata goes out as stored: its numbers' own digits.
        let text = String::from_utf8(search(&result, "edge")).unwrap();
        assert!(text.contains("123456789012345678901234567890"), "{text}");
        assert!(text.contains("2.50"), "{text}");

        let record = VectorRecord::new("v", vec![0.1, 1.0, -2.5e-8], metadata);
        let typed: Value = serde_json::from_slice(&vector(&record)).unwrap();
        let tree = json!({"id": record.id, "values": record.values, "metadata": parse_json(&record.metadata)});
        assert_eq!(typed, tree);
    }
}
