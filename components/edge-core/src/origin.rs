//! The origin as the edge core sees it: the `zerodb:edge/origin` interface
//! behind a trait, so the core runs against the WIT import in a component and
//! against a fake in native unit tests.

use crate::error::ApiError;
use crate::model::*;

/// Opens sessions: resolves an API key to the caller's project.
pub trait Connect {
    type Session: Origin;
    fn open(&self, api_key: &str) -> Result<Self::Session, ApiError>;
    /// The origin's service registry and routing table, as a JSON object.
    fn health(&self) -> String;
}

/// One project's view of the origin (`zerodb:edge/origin.session`).
pub trait Origin {
    fn project(&self) -> String;
    fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo, ApiError>;
    fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError>;
    /// The collection's current coherence token, none when it does not
    /// exist; cheap (answered from the origin's memory or a lease).
    fn collection_token(&self, name: &str) -> Result<Option<Token>, ApiError>;
    fn drop_collection(&self, name: &str) -> Result<(), ApiError>;
    fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError>;
    fn get(&self, collection: &str, id: &str) -> Result<VectorRecord, ApiError>;
    fn list_vectors(&self, collection: &str, after: Option<&str>, limit: u32) -> Result<VectorPage, ApiError>;
    fn delete(&self, collection: &str, id: &str) -> Result<WriteResult, ApiError>;
    fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError>;
    fn put_memory(&self, memory: NewMemory) -> Result<MemoryRecord, ApiError>;
    fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError>;
    fn delete_memory(&self, id: &str) -> Result<(), ApiError>;
    fn search_memory(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError>;
    fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError>;
    fn get_file(&self, key: &str) -> Result<File, ApiError>;
    fn delete_file(&self, key: &str) -> Result<(), ApiError>;
}
