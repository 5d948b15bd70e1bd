//! The `zerodb:edge/origin` import, implemented natively over the Postgres
//! store: a cache miss in the edge component becomes a direct call into
//! [`Store`], with no network hop. This module owns the host-side bindings of
//! the WIT package; store errors become the WIT `error` record only here.

use crate::coherence::Coherence;
use crate::files::Files;
use crate::health::Registry;
use crate::store::{Project, Store};
use edge_core::model as core;
use std::sync::Arc;
use wasmtime::component::{Resource, ResourceTable};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "zerodb:edge/edge",
    imports: { default: async },
    with: { "zerodb:edge/origin.session": Session },
    // The origin API (`origin_http`) carries these types as JSON.
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use zerodb::edge::origin as wit;
pub use zerodb::edge::origin::HostSession;

/// A resolved API key, held in the instance's resource table.
pub struct Session {
    project: Project,
}

/// What answers origin calls: the database, the service registry, the
/// files, and the coherence table (shared with the store).
#[derive(Clone)]
pub struct Backends {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub files: Files,
    pub coherence: Arc<Coherence>,
}

impl Backends {
    /// The registry and routing table, plus the coherence feed's state
    /// (`coherence: {feed, collections, notifications, subscriptions}`).
    pub fn health(&self) -> serde_json::Value {
        let mut health = self.registry.to_json();
        if let Some(object) = health.as_object_mut() {
            object.insert("coherence".into(), self.coherence.to_json());
        }
        health
    }
}

/// What origin calls need from a component instance's store.
pub struct OriginCtx {
    pub backends: Backends,
    pub table: ResourceTable,
}

/// Adds the `origin` import to a linker whose store data gives an [`OriginCtx`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut OriginCtx,
) -> wasmtime::Result<()> {
    zerodb::edge::origin::add_to_linker::<T, wasmtime::component::HasSelf<OriginCtx>>(linker, get)
}

impl From<core::ApiError> for wit::Error {
    fn from(e: core::ApiError) -> wit::Error {
        use core::ErrorKind as K;
        let code = match e.kind {
            K::BadRequest | K::MethodNotAllowed => wit::ErrorCode::BadRequest,
            K::Unauthorized => wit::ErrorCode::Unauthorized,
            K::Forbidden => wit::ErrorCode::Forbidden,
            K::NotFound => wit::ErrorCode::NotFound,
            K::Conflict => wit::ErrorCode::Conflict,
            K::TooLarge => wit::ErrorCode::TooLarge,
            K::Invalid => wit::ErrorCode::Invalid,
            K::Unavailable => wit::ErrorCode::Unavailable,
            K::Internal => wit::ErrorCode::Internal,
        };
        wit::Error {
            code,
            reason: e.code,
            message: e.message,
            retry_after_secs: e.retry_after_secs,
        }
    }
}

impl From<wit::CollectionSpec> for core::CollectionSpec {
    fn from(s: wit::CollectionSpec) -> Self {
        core::CollectionSpec {
            dims: s.dims,
            metric: match s.metric {
                wit::Metric::Cosine => core::Metric::Cosine,
                wit::Metric::L2 => core::Metric::L2,
                wit::Metric::Dot => core::Metric::Dot,
            },
            index: match s.index {
                wit::IndexKind::Hnsw => core::IndexKind::Hnsw,
                wit::IndexKind::Ivfflat => core::IndexKind::Ivfflat,
                wit::IndexKind::None => core::IndexKind::None,
            },
            cache_similarity: s.cache_similarity,
        }
    }
}

impl From<core::CollectionInfo> for wit::CollectionInfo {
    fn from(i: core::CollectionInfo) -> Self {
        wit::CollectionInfo {
            name: i.name,
            spec: wit::CollectionSpec {
                dims: i.spec.dims,
                metric: match i.spec.metric {
                    core::Metric::Cosine => wit::Metric::Cosine,
                    core::Metric::L2 => wit::Metric::L2,
                    core::Metric::Dot => wit::Metric::Dot,
                },
                index: match i.spec.index {
                    core::IndexKind::Hnsw => wit::IndexKind::Hnsw,
                    core::IndexKind::Ivfflat => wit::IndexKind::Ivfflat,
                    core::IndexKind::None => wit::IndexKind::None,
                },
                cache_similarity: i.spec.cache_similarity,
            },
            count: i.count,
            version: i.version,
        }
    }
}

impl From<core::VectorRecord> for wit::VectorRecord {
    fn from(r: core::VectorRecord) -> Self {
        wit::VectorRecord {
            id: r.id,
            values: r.values,
            metadata: r.metadata,
        }
    }
}

impl From<core::WriteResult> for wit::WriteResult {
    fn from(w: core::WriteResult) -> Self {
        wit::WriteResult {
            affected: w.affected,
            version: w.version,
        }
    }
}

impl From<core::MemoryRecord> for wit::MemoryRecord {
    fn from(m: core::MemoryRecord) -> Self {
        wit::MemoryRecord {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content,
            embedding: m.embedding,
            metadata: m.metadata,
            created_at_ms: m.created_at_ms,
        }
    }
}

type Res<T> = Result<T, wit::Error>;

impl OriginCtx {
    fn project_of(&self, session: &Resource<Session>) -> Res<Project> {
        self.table
            .get(session)
            .map(|s| s.project.clone())
            .map_err(|e| core::ApiError::new(core::ErrorKind::Internal, "invalid_session", e.to_string()).into())
    }
}

impl zerodb::edge::origin::Host for OriginCtx {
    async fn health(&mut self) -> String {
        self.backends.health().to_string()
    }
}

impl zerodb::edge::origin::HostSession for OriginCtx {
    async fn open(&mut self, api_key: String) -> Res<Resource<Session>> {
        let project = self.backends.store.authenticate(&api_key).await?;
        self.table
            .push(Session { project })
            .map_err(|e| core::ApiError::new(core::ErrorKind::Internal, "too_many_sessions", e.to_string()).into())
    }

    async fn project(&mut self, session: Resource<Session>) -> String {
        self.project_of(&session).map(|p| p.id.to_string()).unwrap_or_default()
    }

    async fn create_collection(
        &mut self,
        session: Resource<Session>,
        name: String,
        spec: wit::CollectionSpec,
    ) -> Res<wit::CollectionInfo> {
        let project = self.project_of(&session)?;
        Ok(self
            .backends
            .store
            .create_collection(&project, &name, spec.into())
            .await?
            .into())
    }

    async fn describe_collection(&mut self, session: Resource<Session>, name: String) -> Res<wit::CollectionInfo> {
        let project = self.project_of(&session)?;
        Ok(self.backends.store.describe_collection(&project, &name).await?.into())
    }

    async fn collection_token(&mut self, session: Resource<Session>, name: String) -> Res<Option<wit::Token>> {
        let project = self.project_of(&session)?;
        let token = self.backends.store.collection_token(&project, &name).await?;
        Ok(token.map(|t| wit::Token {
            incarnation: t.incarnation,
            version: t.version,
        }))
    }

    async fn drop_collection(&mut self, session: Resource<Session>, name: String) -> Res<()> {
        let project = self.project_of(&session)?;
        Ok(self.backends.store.drop_collection(&project, &name).await?)
    }

    async fn upsert(
        &mut self,
        session: Resource<Session>,
        collection: String,
        records: Vec<wit::VectorRecord>,
    ) -> Res<wit::WriteResult> {
        let project = self.project_of(&session)?;
        let records = records
            .into_iter()
            .map(|r| core::VectorRecord {
                id: r.id,
                values: r.values,
                metadata: r.metadata,
            })
            .collect();
        Ok(self.backends.store.upsert(&project, &collection, records).await?.into())
    }

    async fn get(&mut self, session: Resource<Session>, collection: String, id: String) -> Res<wit::VectorRecord> {
        let project = self.project_of(&session)?;
        Ok(self.backends.store.get_vector(&project, &collection, &id).await?.into())
    }

    async fn list_vectors(
        &mut self,
        session: Resource<Session>,
        collection: String,
        after: Option<String>,
        limit: u32,
    ) -> Res<wit::VectorPage> {
        let project = self.project_of(&session)?;
        let page = self
            .backends
            .store
            .list_vectors(&project, &collection, after.as_deref(), limit)
            .await?;
        Ok(wit::VectorPage {
            records: page.records.into_iter().map(Into::into).collect(),
            next: page.next,
            version: page.version,
        })
    }

    async fn delete(&mut self, session: Resource<Session>, collection: String, id: String) -> Res<wit::WriteResult> {
        let project = self.project_of(&session)?;
        Ok(self
            .backends
            .store
            .delete_vector(&project, &collection, &id)
            .await?
            .into())
    }

    async fn search(
        &mut self,
        session: Resource<Session>,
        collection: String,
        request: wit::SearchRequest,
    ) -> Res<wit::SearchResult> {
        let project = self.project_of(&session)?;
        let request = core::SearchRequest {
            vector: request.vector,
            k: request.k,
            filter: request.filter,
            include_values: request.include_values,
            include_metadata: request.include_metadata,
        };
        let result = self.backends.store.search(&project, &collection, &request).await?;
        Ok(wit::SearchResult {
            hits: result
                .hits
                .into_iter()
                .map(|h| wit::SearchHit {
                    id: h.id,
                    score: h.score,
                    values: h.values,
                    metadata: h.metadata,
                })
                .collect(),
            version: result.version,
        })
    }

    async fn put_memory(&mut self, session: Resource<Session>, m: wit::NewMemory) -> Res<wit::MemoryRecord> {
        let project = self.project_of(&session)?;
        let memory = core::NewMemory {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content,
            embedding: m.embedding,
            metadata: m.metadata,
        };
        Ok(self.backends.store.put_memory(&project, memory).await?.into())
    }

    async fn get_memory(&mut self, session: Resource<Session>, id: String) -> Res<wit::MemoryRecord> {
        let project = self.project_of(&session)?;
        Ok(self.backends.store.get_memory(&project, &id).await?.into())
    }

    async fn delete_memory(&mut self, session: Resource<Session>, id: String) -> Res<()> {
        let project = self.project_of(&session)?;
        Ok(self.backends.store.delete_memory(&project, &id).await?)
    }

    async fn search_memory(&mut self, session: Resource<Session>, q: wit::MemoryQuery) -> Res<Vec<wit::MemoryHit>> {
        let project = self.project_of(&session)?;
        let query = core::MemoryQuery {
            embedding: q.embedding,
            k: q.k,
            session_id: q.session_id,
            include_embedding: q.include_embedding,
        };
        let hits = self.backends.store.search_memory(&project, &query).await?;
        Ok(hits
            .into_iter()
            .map(|h| wit::MemoryHit {
                memory: h.memory.into(),
                score: h.score,
            })
            .collect())
    }

    async fn put_file(&mut self, session: Resource<Session>, key: String, file: wit::File) -> Res<wit::FileInfo> {
        let project = self.project_of(&session)?;
        let file = core::File {
            content_type: file.content_type,
            body: file.body,
        };
        let info = self.backends.files.put(&project, &key, file).await?;
        Ok(wit::FileInfo {
            key: info.key,
            size: info.size,
            etag: info.etag,
        })
    }

    async fn get_file(&mut self, session: Resource<Session>, key: String) -> Res<wit::File> {
        let project = self.project_of(&session)?;
        let file = self.backends.files.get(&project, &key).await?;
        Ok(wit::File {
            content_type: file.content_type,
            body: file.body,
        })
    }

    async fn delete_file(&mut self, session: Resource<Session>, key: String) -> Res<()> {
        let project = self.project_of(&session)?;
        Ok(self.backends.files.delete(&project, &key).await?)
    }

    async fn drop(&mut self, session: Resource<Session>) -> wasmtime::Result<()> {
        self.table.delete(session)?;
        Ok(())
    }
}
