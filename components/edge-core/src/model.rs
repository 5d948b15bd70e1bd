//! The data the edge and the origin exchange, mirroring `wit/zerodb-edge.wit`
//! (the types of `zerodb:edge/origin`) so this crate builds and tests without wasm.

use serde::{Deserialize, Serialize};

/// How vectors of a collection are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity; a score is the similarity (1 = same direction).
    Cosine,
    /// Euclidean distance; a score is the distance (0 = identical).
    L2,
    /// Inner product; a score is the product (larger is closer).
    Dot,
}

/// The index a collection is searched through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// pgvector HNSW.
    Hnsw,
    /// pgvector IVFFlat.
    Ivfflat,
    /// No index: exact search by scanning.
    None,
}

/// Names as clients send them and as `zerodb.collections` stores them (the
/// same as the serde form), and their inverse, which refuses a name this
/// build does not know rather than guess.
macro_rules! names {
    ($type:ident { $($case:ident = $name:literal),* }) => {
        impl $type {
            /// Every case.
            pub const ALL: &[$type] = &[$($type::$case),*];

            /// The case's name, e.g. `cosine`.
            pub const fn name(self) -> &'static str {
                match self { $($type::$case => $name,)* }
            }

            /// The case named `name`; none for an unknown name.
            pub fn from_name(name: &str) -> Option<$type> {
                Self::ALL.iter().copied().find(|case| case.name() == name)
            }
        }
    };
}

names!(Metric { Cosine = "cosine", L2 = "l2", Dot = "dot" });
names!(IndexKind { Hnsw = "hnsw", Ivfflat = "ivfflat", None = "none" });

/// What a collection is, as asked at creation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionSpec {
    /// Dimension count of every vector.
    pub dims: u32,
    /// How vectors are compared.
    pub metric: Metric,
    /// The index searches go through.
    pub index: IndexKind,
    /// Cosine similarity at which a cached query answers a new one (1.0 = exact).
    pub cache_similarity: f32,
    /// The embedding model whose vectors it holds; a search by text
    /// embeds its query with it. None: searched by vector only.
    #[serde(default)]
    pub model: Option<String>,
}

/// A collection as it is now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// The collection's name within its project.
    pub name: String,
    /// Its spec, as created.
    pub spec: CollectionSpec,
    /// Number of vectors stored.
    pub count: u64,
    /// Bumped by every write.
    pub version: u64,
}

/// One stored vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorRecord {
    /// Unique within the collection.
    pub id: String,
    /// One finite value per dimension.
    pub values: Vec<f32>,
    /// JSON object text.
    pub metadata: String,
    /// The text the vector was made from (ZeroDB's `document`), if given.
    pub document: Option<String>,
    /// Where the text came from (ZeroDB's `source`), if given.
    pub source: Option<String>,
    /// When this version was written, in microseconds since the Unix epoch
    /// (the origin's clock); ignored in an upsert.
    pub written_at_us: u64,
}

impl VectorRecord {
    /// A record with no document or source, as a v1 client writes it (its
    /// write time is the origin's to stamp).
    pub fn new(id: impl Into<String>, values: Vec<f32>, metadata: impl Into<String>) -> Self {
        VectorRecord {
            id: id.into(),
            values,
            metadata: metadata.into(),
            document: None,
            source: None,
            written_at_us: 0,
        }
    }
}

/// One page of a collection's vectors, in id order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorPage {
    /// The page's records.
    pub records: Vec<VectorRecord>,
    /// The id to pass as `after` for the next page; `None` at the end.
    pub next: Option<String>,
    /// The collection's version when the page was read.
    pub version: u64,
}

/// A nearest-neighbour query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The query vector, one value per dimension.
    pub vector: Vec<f32>,
    /// How many hits at most (1..=1000).
    pub k: u32,
    /// JSON object text: a hit's metadata must hold each key with the same value.
    pub filter: Option<String>,
    /// Whether hits carry their vectors.
    pub include_values: bool,
    /// Whether hits carry their metadata.
    pub include_metadata: bool,
}

/// One result of a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The vector's id.
    pub id: String,
    /// Similarity or distance, as the collection's [`Metric`] says.
    pub score: f32,
    /// The vector, when asked for.
    pub values: Option<Vec<f32>>,
    /// The metadata (JSON object text), when asked for.
    pub metadata: Option<String>,
    /// With the metadata: the record's document.
    pub document: Option<String>,
    /// With the metadata: the record's source.
    pub source: Option<String>,
    /// With the metadata: the record's write time, microseconds since the
    /// Unix epoch.
    pub written_at_us: Option<u64>,
}

/// The hits of a search and the collection version they were read at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// The collection's version when searched.
    pub version: u64,
}

/// A collection's coherence token (`zerodb:edge/origin.token`): its
/// incarnation (new and larger each time the name is created) and its
/// version within it. Ordered as (incarnation, version); tokens of one name
/// only grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Token {
    /// The collection's identity; larger for each re-creation of the name.
    pub incarnation: u64,
    /// The collection's version within the incarnation.
    pub version: u64,
}

/// The outcome of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResult {
    /// How many records it touched.
    pub affected: u64,
    /// The collection's version after it.
    pub version: u64,
    /// The write's time, microseconds since the Unix epoch (stamped on
    /// every record it stored).
    pub at_us: u64,
}

/// An agent memory record as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Unique within the project.
    pub id: String,
    /// The agent session it belongs to.
    pub session_id: String,
    /// The agent that wrote it, if given.
    pub agent_id: Option<String>,
    /// Who said it (`user`, `assistant`, ...).
    pub role: String,
    /// The text remembered.
    pub content: String,
    /// The content's embedding, one value per dimension; `None` when the
    /// record has none or it was not asked for.
    pub embedding: Option<Vec<f32>>,
    /// JSON object text.
    pub metadata: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// A memory record to store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewMemory {
    /// The id; the origin assigns one when `None`.
    pub id: Option<String>,
    /// The agent session it belongs to.
    pub session_id: String,
    /// The agent that writes it, if given.
    pub agent_id: Option<String>,
    /// Who said it.
    pub role: String,
    /// The text to remember.
    pub content: String,
    /// The content's embedding, one value per dimension; a record without
    /// one is listed but never found by a search.
    pub embedding: Option<Vec<f32>>,
    /// JSON object text.
    pub metadata: String,
}

/// The fields of a memory record to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryPatch {
    /// A new session.
    pub session_id: Option<String>,
    /// A new agent.
    pub agent_id: Option<String>,
    /// A new role.
    pub role: Option<String>,
    /// New text.
    pub content: Option<String>,
    /// A new embedding (of the project's memory dimension).
    pub embedding: Option<Vec<f32>>,
    /// New metadata (JSON object text), replacing the old whole.
    pub metadata: Option<String>,
}

/// A search over memory records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryQuery {
    /// The query embedding.
    pub embedding: Vec<f32>,
    /// How many hits at most.
    pub k: u32,
    /// Search this session only; the whole project when `None`.
    pub session_id: Option<String>,
    /// Search this agent's records only, when given.
    pub agent_id: Option<String>,
    /// Search this role's records only, when given.
    pub role: Option<String>,
    /// Whether hits carry their embeddings.
    pub include_embedding: bool,
}

/// A page of memory records, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryList {
    /// How many matching records to pass over.
    pub skip: u32,
    /// How many to answer at most (1..=1000).
    pub limit: u32,
    /// This session's records only, when given.
    pub session_id: Option<String>,
    /// This agent's records only, when given.
    pub agent_id: Option<String>,
    /// This role's records only, when given.
    pub role: Option<String>,
}

/// One page of memory records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryPage {
    /// The page, newest first.
    pub records: Vec<MemoryRecord>,
    /// How many records match in all.
    pub total: u64,
}

/// A memory record found by a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryHit {
    /// The record.
    pub memory: MemoryRecord,
    /// Cosine similarity to the query.
    pub score: f32,
}

/// A file in the project's object store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct File {
    /// Its MIME type, as stored.
    pub content_type: String,
    /// Its bytes.
    pub body: Vec<u8>,
}

/// What storing a file produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    /// The file's key within the project.
    pub key: String,
    /// In bytes.
    pub size: u64,
    /// The object store's entity tag, when it gives one.
    pub etag: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names_and_unknown_names_are_refused() {
        for metric in Metric::ALL {
            assert_eq!(serde_json::to_value(metric).unwrap(), metric.name());
            assert_eq!(Metric::from_name(metric.name()), Some(*metric));
        }
        for index in IndexKind::ALL {
            assert_eq!(serde_json::to_value(index).unwrap(), index.name());
            assert_eq!(IndexKind::from_name(index.name()), Some(*index));
        }
        assert_eq!(Metric::from_name("hamming"), None);
        assert_eq!(IndexKind::from_name("diskann"), None);
    }
}

/// An embedding model the origin runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingModel {
    /// The name requests give, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub name: String,
    /// The length of its vectors.
    pub dims: u32,
    /// Word pieces it reads of a text; the rest is cut.
    pub max_tokens: u32,
    /// `mean` or `cls`.
    pub pooling: String,
    /// Whether its vectors have unit length.
    pub normalized: bool,
    /// Whether it embeds requests that name no model.
    pub is_default: bool,
}

/// The vectors of a list of texts, in the texts' order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Embeddings {
    /// The model that made them.
    pub model: String,
    /// The length of each vector.
    pub dims: u32,
    /// One vector of `dims` values per text.
    pub vectors: Vec<Vec<f32>>,
}
