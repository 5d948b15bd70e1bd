//! The origin as the edge core sees it: the `zerodb:edge/origin` interface
//! behind a trait, so the core runs against the WIT import in a component and
//! against a fake in native unit tests.

use crate::error::ApiError;
use crate::model::*;

/// Opens sessions: resolves an API key to the caller's project.
pub trait Connect {
    /// A session on one project.
    type Session: Origin;
    /// Opens a session for the key (the bearer token); Err `unauthorized`
    /// when the key does not exist or was revoked.
    fn open(&self, api_key: &str) -> Result<Self::Session, ApiError>;
    /// The origin's service registry and routing table, as a JSON object.
    fn health(&self) -> String;
}

/// One project's view of the origin (`zerodb:edge/origin.session`).
///
/// Every Err is the origin's error as the client will see it: e.g.
/// `not_found` for a missing collection, `unavailable` with a retry delay
/// when a backing service is down.
pub trait Origin {
    /// The project's id; caches key their entries with it.
    fn project(&self) -> String;
    /// Creates a collection; Ok unchanged when it exists with the same spec,
    /// Err `conflict` when with another.
    fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo, ApiError>;
    /// The collection as it is now.
    fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError>;
    /// The collection's current coherence token, none when it does not
    /// exist; cheap (answered from the origin's memory or a lease).
    fn collection_token(&self, name: &str) -> Result<Option<Token>, ApiError>;
    /// Drops the collection and its vectors.
    fn drop_collection(&self, name: &str) -> Result<(), ApiError>;
    /// Inserts or replaces up to 1000 records in one transaction.
    fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError>;
    /// One vector by id.
    fn get(&self, collection: &str, id: &str) -> Result<VectorRecord, ApiError>;
    /// Up to `limit` (1..=1000) vectors with ids after `after`, in id order.
    fn list_vectors(&self, collection: &str, after: Option<&str>, limit: u32) -> Result<VectorPage, ApiError>;
    /// Deletes one vector by id.
    fn delete(&self, collection: &str, id: &str) -> Result<WriteResult, ApiError>;
    /// The nearest neighbours of `request.vector`, best first.
    fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError>;
    /// Stores a memory record; answers it as stored (id and time set).
    fn put_memory(&self, memory: NewMemory) -> Result<MemoryRecord, ApiError>;
    /// One memory record by id.
    fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError>;
    /// Deletes one memory record by id.
    fn delete_memory(&self, id: &str) -> Result<(), ApiError>;
    /// The memory records nearest the query embedding, best first.
    fn search_memory(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError>;
    /// Stores a file under the project's prefix, replacing any at `key`.
    fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError>;
    /// A stored file by key.
    fn get_file(&self, key: &str) -> Result<File, ApiError>;
    /// Deletes a stored file by key.
    fn delete_file(&self, key: &str) -> Result<(), ApiError>;
}
