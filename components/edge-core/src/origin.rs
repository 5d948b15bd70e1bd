//! The origin as the edge core sees it: the `zerodb:edge/origin` interface
//! behind a trait, so the core runs against the WIT import in a component and
//! against a fake in native unit tests.
//!
//! The calls are `async`: a front whose import is asynchronous
//! (`origin-async`) lets other requests run while one waits. A front whose
//! import blocks implements them with futures that are ready at once and
//! drives a request with [`complete`].

use crate::error::ApiError;
use crate::model::*;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// The output of a future that needs no waiting (one over an origin whose
/// calls block), or `None` when it would have had to wait.
pub fn complete<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Opens sessions: resolves an API key to the caller's project.
// Guests are single-threaded, so the futures need not be `Send`.
#[allow(async_fn_in_trait, reason = "the callers are single-threaded and need no Send bound")]
pub trait Connect {
    /// A session on one project.
    type Session: Origin;
    /// Opens a session for the key (the bearer token); Err `unauthorized`
    /// when the key does not exist or was revoked.
    async fn open(&self, api_key: &str) -> Result<Self::Session, ApiError>;
    /// The origin's service registry and routing table, as a JSON object.
    async fn health(&self) -> String;
}

/// One project's view of the origin (`zerodb:edge/origin.session`).
///
/// Every Err is the origin's error as the client will see it: e.g.
/// `not_found` for a missing collection, `unavailable` with a retry delay
/// when a backing service is down.
#[allow(async_fn_in_trait, reason = "the callers are single-threaded and need no Send bound")]
pub trait Origin {
    /// The project's UUID, hyphenated and lower case (the `{project_id}` of
    /// ZeroDB's routes); caches key their entries with it.
    async fn project(&self) -> String;
    /// Creates a collection; Ok unchanged when it exists with the same spec,
    /// Err `conflict` when with another.
    async fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo, ApiError>;
    /// The collection as it is now.
    async fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError>;
    /// Every collection of the project.
    async fn list_collections(&self) -> Result<Vec<CollectionInfo>, ApiError>;
    /// The collection's current coherence token, none when it does not
    /// exist; cheap (answered from the origin's memory or a lease).
    async fn collection_token(&self, name: &str) -> Result<Option<Token>, ApiError>;
    /// Drops the collection and its vectors.
    async fn drop_collection(&self, name: &str) -> Result<(), ApiError>;
    /// Inserts or replaces up to 1000 records in one transaction.
    async fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError>;
    /// One vector by id.
    async fn get(&self, collection: &str, id: &str) -> Result<VectorRecord, ApiError>;
    /// Up to `limit` (1..=1000) vectors with ids after `after`, in id order.
    async fn list_vectors(&self, collection: &str, after: Option<&str>, limit: u32) -> Result<VectorPage, ApiError>;
    /// Deletes one vector by id.
    async fn delete(&self, collection: &str, id: &str) -> Result<WriteResult, ApiError>;
    /// The nearest neighbours of `request.vector`, best first.
    async fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError>;
    /// Stores a memory record; answers it as stored (id and time set).
    async fn put_memory(&self, memory: NewMemory) -> Result<MemoryRecord, ApiError>;
    /// One memory record by id.
    async fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError>;
    /// Changes the fields `patch` gives of memory record `id` in one
    /// statement; Err `not_found` when it does not exist.
    async fn update_memory(&self, id: &str, patch: &MemoryPatch) -> Result<MemoryRecord, ApiError>;
    /// Deletes one memory record by id.
    async fn delete_memory(&self, id: &str) -> Result<(), ApiError>;
    /// The memory records nearest the query embedding, best first.
    async fn search_memory(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError>;
    /// A page of memory records, newest first, with the total that match.
    async fn list_memory(&self, query: &MemoryList) -> Result<MemoryPage, ApiError>;
    /// The vectors of 1 to 100 non-blank texts by `model`, or by the
    /// default model when none is named. Errors: `model_not_loaded` naming
    /// the models that are, `overloaded` when the model's queue is full.
    async fn embed(&self, model: Option<&str>, texts: &[String]) -> Result<Embeddings, ApiError>;
    /// The embedding models the origin runs, the default first (empty when
    /// it runs none).
    async fn embedding_models(&self) -> Result<Vec<EmbeddingModel>, ApiError>;
    /// Stores a file under the project's prefix, replacing any at `key`.
    async fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError>;
    /// A stored file by key.
    async fn get_file(&self, key: &str) -> Result<File, ApiError>;
    /// Deletes a stored file by key.
    async fn delete_file(&self, key: &str) -> Result<(), ApiError>;
}
