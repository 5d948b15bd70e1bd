//! What cache entries are keyed by: a project's collection, the shape of
//! a search, a query vector's hash and a request body's fingerprint.

use crate::model::SearchRequest;

/// A collection of a project.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollKey {
    /// The project (tenant) the collection belongs to.
    pub project: String,
    /// The collection's name within the project.
    pub name: String,
}

/// What makes two searches answerable by the same result, besides the vector.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Shape {
    k: u32,
    filter: Option<String>,
    include_values: bool,
    include_metadata: bool,
}

/// Searches of one collection and shape: the result entries a new query
/// may be answered from.
pub(super) type Group = (CollKey, Shape);

/// The key of one cache entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Info(CollKey),
    Vector(CollKey, String),
    /// One cached search, by a hash of its query vector's bits.
    Result(CollKey, Shape, u64),
    Hot(CollKey),
    /// A text's embedding: the project, the model and the exact text.
    Embedding(String, String, String),
}

impl Key {
    /// The entry of the query hashed `hash` in `group`.
    pub(super) fn result((coll, shape): &Group, hash: u64) -> Key {
        Key::Result(coll.clone(), shape.clone(), hash)
    }

    /// The collection the entry belongs to; none for an embedding, which
    /// no write changes.
    pub(super) fn collection(&self) -> Option<&CollKey> {
        match self {
            Key::Info(c) | Key::Vector(c, _) | Key::Result(c, ..) | Key::Hot(c) => Some(c),
            Key::Embedding(..) => None,
        }
    }
}

/// A 128-bit fingerprint of a search request's body. The same bytes sent
/// again are the same request, so it is answered without parsing the body
/// (parsing 1536 floats is most of a hit's time in the component).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BodyKey(u64, u64);

impl BodyKey {
    /// The fingerprint of `body`, the request's raw bytes (no parsing or
    /// normalisation: bytes that differ in any way are different keys):
    /// their 128-bit XXH3. Not a cryptographic hash; bodies are only ever
    /// compared within one project's collection, so a client could at
    /// worst collide with its own project's queries.
    pub fn of(body: &[u8]) -> BodyKey {
        let hash = xxhash_rust::xxh3::xxh3_128(body);
        BodyKey((hash >> 64) as u64, hash as u64)
    }

    /// The fingerprint of `body` sent to a route other than a vector
    /// search (`route` names it, e.g. a text search), so that equal bytes
    /// sent to two routes never replay each other's answer.
    pub fn of_route(route: &str, body: &[u8]) -> BodyKey {
        let hash = xxhash_rust::xxh3::xxh3_128_with_seed(body, xxhash_rust::xxh3::xxh3_64(route.as_bytes()));
        BodyKey((hash >> 64) as u64, hash as u64)
    }
}

/// A hash of a query vector's exact bits.
fn vector_hash(v: &[f32]) -> u64 {
    let bits: Vec<u8> = v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
    xxhash_rust::xxh3::xxh3_64(&bits)
}

/// The group of `request` (its collection and shape) and its vector's hash:
/// together, the key of its result entry.
pub(super) fn result_key(coll: &CollKey, request: &SearchRequest) -> (Group, u64) {
    let shape = Shape {
        k: request.k,
        filter: request.filter.clone(),
        include_values: request.include_values,
        include_metadata: request.include_metadata,
    };
    ((coll.clone(), shape), vector_hash(&request.vector))
}
