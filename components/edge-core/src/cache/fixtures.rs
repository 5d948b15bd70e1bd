//! Values shared by the cache's unit tests.

use super::keys::{result_key, CollKey, Key};
use super::Cache;
use crate::model::*;

/// The token every test entry is read under, unless a test says otherwise.
pub(super) const T1: Token = Token {
    incarnation: 7,
    version: 1,
};

pub(super) fn at(version: u64) -> Token {
    Token { version, ..T1 }
}

pub(super) fn coll(name: &str) -> CollKey {
    CollKey {
        project: "p".into(),
        name: name.into(),
    }
}

pub(super) fn request(vector: Vec<f32>) -> SearchRequest {
    SearchRequest {
        vector,
        k: 3,
        filter: None,
        include_values: false,
        include_metadata: true,
    }
}

pub(super) fn result(id: &str) -> SearchResult {
    SearchResult {
        hits: vec![SearchHit {
            id: id.into(),
            score: 1.0,
            values: None,
            metadata: None,
            document: None,
            source: None,
            written_at_us: None,
        }],
        version: 1,
    }
}

/// A 2-dim cosine collection too large (100 000 vectors) to be loaded whole.
pub(super) fn large_info(name: &str) -> CollectionInfo {
    CollectionInfo {
        name: name.into(),
        spec: CollectionSpec {
            dims: 2,
            metric: Metric::Cosine,
            index: IndexKind::Hnsw,
            cache_similarity: 1.0,
            model: None,
        },
        count: 100_000,
        version: 1,
    }
}

pub(super) fn record(id: &str, values: Vec<f32>) -> VectorRecord {
    VectorRecord::new(id, values, "{}")
}

/// Whether the cache holds vector `id` of `coll`, without touching it
/// (a lookup would move it in the LRU order).
pub(super) fn holds_vector(cache: &Cache, coll: &CollKey, id: &str) -> bool {
    cache.entries.contains(&Key::Vector(coll.clone(), id.into()))
}

/// Whether the cache holds a result entry for `request`, without touching it.
pub(super) fn holds_result(cache: &Cache, coll: &CollKey, request: &SearchRequest) -> bool {
    let (group, hash) = result_key(coll, request);
    cache.entries.contains(&Key::result(&group, hash))
}
