//! The origin: what an edge component asks of the system of record when its
//! cache cannot answer. One service over the store, the object store and the
//! service registry, in core types with [`ApiError`] out, and two adapters
//! over it:
//!
//! - [`wit`]: the `zerodb:edge/origin-async` import that components in this
//!   host call directly (the WIT bindings and their conversions live there
//!   only);
//! - [`http`]: the same functions as the origin API (`/origin/v1/`), for
//!   components in other hosts through `components/origin-http`.

mod collapse;
pub mod http;
pub mod wit;

pub use collapse::Searches;

use crate::coherence::Coherence;
use crate::embed::Embedder;
use crate::files::Files;
use crate::health::Registry;
use crate::store::{Project, Store};
use edge_core::error::ApiError;
use edge_core::model::*;
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiError>;

/// The origin's backends; cheap to clone (each part is shared).
#[derive(Clone)]
pub struct OriginService {
    /// Collections, vectors, memory records and keys in PostgreSQL.
    pub store: Store,
    /// The probed services and the routing table.
    pub registry: Arc<Registry>,
    /// The project's files in the S3 object store.
    pub files: Files,
    /// Collection tokens as the change feed last reported them.
    pub coherence: Arc<Coherence>,
    /// Searches under way, which identical ones join.
    pub searches: Arc<Searches>,
    /// The embedding models.
    pub embedder: Arc<Embedder>,
}

impl OriginService {
    /// The registry and routing table, plus the coherence feed's state
    /// (`coherence: {feed, collections, notifications, subscriptions}`).
    pub fn health(&self) -> serde_json::Value {
        let mut health = self.registry.to_json();
        if let Some(object) = health.as_object_mut() {
            object.insert("coherence".into(), self.coherence.to_json());
        }
        health
    }

    /// Resolves `api_key` to its project. Errors: 401 `invalid_api_key`, or
    /// 503 while the database cannot be asked.
    pub async fn open(&self, api_key: &str) -> Result<Session> {
        let project = self.store.authenticate(api_key).await?;
        Ok(Session {
            origin: self.clone(),
            project,
        })
    }
}

/// The calls of one resolved key, each confined to its project. Errors are
/// the store's and the object store's, unchanged. Cheap to clone: a call in
/// flight holds its own copy, so the instance's table is free meanwhile.
#[derive(Clone)]
pub struct Session {
    origin: OriginService,
    project: Project,
}

impl Session {
    /// The project the key belongs to.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Creates a collection; one bound to a model must have that model's
    /// dimension (422 `dimension_mismatch`) and name a loaded model (400
    /// `model_not_loaded`).
    pub async fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo> {
        if let Some(model) = &spec.model {
            let model = self.origin.embedder.model(Some(model))?;
            if model.dims != spec.dims {
                return Err(ApiError::new(
                    edge_core::error::code::DIMENSION_MISMATCH,
                    format!(
                        "model {} makes {} dimensions, not {}",
                        model.name, model.dims, spec.dims
                    ),
                ));
            }
        }
        self.origin.store.create_collection(&self.project, name, spec).await
    }

    pub async fn describe_collection(&self, name: &str) -> Result<CollectionInfo> {
        self.origin.store.describe_collection(&self.project, name).await
    }

    /// Every collection of the project, by name.
    pub async fn list_collections(&self) -> Result<Vec<CollectionInfo>> {
        self.origin.store.list_collections(&self.project).await
    }

    /// The collection's token, or none if there is no such collection.
    pub async fn collection_token(&self, name: &str) -> Result<Option<Token>> {
        self.origin.store.collection_token(&self.project, name).await
    }

    pub async fn drop_collection(&self, name: &str) -> Result<()> {
        self.origin.store.drop_collection(&self.project, name).await
    }

    pub async fn upsert(&self, collection: &str, records: Vec<VectorRecord>) -> Result<WriteResult> {
        self.origin.store.upsert(&self.project, collection, records).await
    }

    pub async fn get(&self, collection: &str, id: &str) -> Result<VectorRecord> {
        self.origin.store.get_vector(&self.project, collection, id).await
    }

    /// Up to `limit` records with ids after `after`, in id order.
    pub async fn list_vectors(&self, collection: &str, after: Option<&str>, limit: u32) -> Result<VectorPage> {
        self.origin
            .store
            .list_vectors(&self.project, collection, after, limit)
            .await
    }

    pub async fn delete(&self, collection: &str, id: &str) -> Result<WriteResult> {
        self.origin.store.delete_vector(&self.project, collection, id).await
    }

    /// The nearest neighbours of `request`; an identical search of the
    /// collection already under way at the same token is joined (see
    /// [`Searches`]).
    pub async fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult> {
        let store = &self.origin.store;
        let Ok(Some(token)) = store.collection_token(&self.project, collection).await else {
            return store.search(&self.project, collection, request).await;
        };
        let (store, project, name, owned) = (
            store.clone(),
            self.project.clone(),
            collection.to_string(),
            request.clone(),
        );
        let query = async move { store.search(&project, &name, &owned).await };
        self.origin
            .searches
            .answer(self.project.id, collection, token, request, query)
            .await
    }

    pub async fn put_memory(&self, memory: NewMemory) -> Result<MemoryRecord> {
        self.origin.store.put_memory(&self.project, memory).await
    }

    pub async fn get_memory(&self, id: &str) -> Result<MemoryRecord> {
        self.origin.store.get_memory(&self.project, id).await
    }

    pub async fn update_memory(&self, id: &str, patch: &MemoryPatch) -> Result<MemoryRecord> {
        self.origin.store.update_memory(&self.project, id, patch).await
    }

    pub async fn delete_memory(&self, id: &str) -> Result<()> {
        self.origin.store.delete_memory(&self.project, id).await
    }

    pub async fn search_memory(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>> {
        self.origin.store.search_memory(&self.project, query).await
    }

    /// A page of memory records, newest first.
    pub async fn list_memory(&self, query: &MemoryList) -> Result<MemoryPage> {
        self.origin.store.list_memory(&self.project, query).await
    }

    /// The vectors of `texts` by `model` (the default for none); see [`Embedder::embed`].
    pub async fn embed(&self, model: Option<&str>, texts: Vec<String>) -> Result<Embeddings> {
        self.origin.embedder.embed(model, texts).await
    }

    /// The embedding models, the default first.
    pub fn embedding_models(&self) -> Vec<EmbeddingModel> {
        self.origin.embedder.models()
    }

    pub async fn put_file(&self, key: &str, file: File) -> Result<FileInfo> {
        self.origin.files.put(&self.project, key, file).await
    }

    pub async fn get_file(&self, key: &str) -> Result<File> {
        self.origin.files.get(&self.project, key).await
    }

    pub async fn delete_file(&self, key: &str) -> Result<()> {
        self.origin.files.delete(&self.project, key).await
    }
}
