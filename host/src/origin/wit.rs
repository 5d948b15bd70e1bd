//! The host side of the WIT boundary: the bindings of `zerodb:edge/origin`,
//! the conversions between its types and the core's (here only), and the
//! import that components in this host call, a thin adapter over
//! [`OriginService`]: a cache miss becomes a direct call into the store, with
//! no network hop.

use super::{OriginService, Session};
use edge_core::error::{code, ApiError, ErrorKind};
use edge_core::model as core;
use wasmtime::component::{Resource, ResourceTable};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "zerodb:edge/edge",
    imports: { default: async },
    with: { "zerodb:edge/origin.session": crate::origin::Session },
    // The origin API (`origin::http`) carries these types as JSON.
    additional_derives: [serde::Serialize, serde::Deserialize],
});

use zerodb::edge::origin::*;

/// What origin calls need from a component instance's store: the service,
/// and the sessions the instance opened.
pub struct OriginCtx {
    pub origin: OriginService,
    pub table: ResourceTable,
}

/// Adds the `origin` import to a linker whose store data gives an [`OriginCtx`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut OriginCtx,
) -> wasmtime::Result<()> {
    zerodb::edge::origin::add_to_linker::<T, wasmtime::component::HasSelf<OriginCtx>>(linker, get)
}

impl From<ErrorKind> for ErrorCode {
    fn from(kind: ErrorKind) -> ErrorCode {
        match kind {
            ErrorKind::BadRequest => ErrorCode::BadRequest,
            ErrorKind::Unauthorized => ErrorCode::Unauthorized,
            ErrorKind::Forbidden => ErrorCode::Forbidden,
            ErrorKind::NotFound => ErrorCode::NotFound,
            ErrorKind::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ErrorKind::Conflict => ErrorCode::Conflict,
            ErrorKind::TooLarge => ErrorCode::TooLarge,
            ErrorKind::Invalid => ErrorCode::Invalid,
            ErrorKind::Unavailable => ErrorCode::Unavailable,
            ErrorKind::Internal => ErrorCode::Internal,
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Error {
        Error {
            code: e.kind.into(),
            reason: e.code,
            message: e.message,
            retry_after_secs: e.retry_after_secs,
        }
    }
}

impl From<Metric> for core::Metric {
    fn from(m: Metric) -> Self {
        match m {
            Metric::Cosine => core::Metric::Cosine,
            Metric::L2 => core::Metric::L2,
            Metric::Dot => core::Metric::Dot,
        }
    }
}

impl From<core::Metric> for Metric {
    fn from(m: core::Metric) -> Self {
        match m {
            core::Metric::Cosine => Metric::Cosine,
            core::Metric::L2 => Metric::L2,
            core::Metric::Dot => Metric::Dot,
        }
    }
}

impl From<IndexKind> for core::IndexKind {
    fn from(k: IndexKind) -> Self {
        match k {
            IndexKind::Hnsw => core::IndexKind::Hnsw,
            IndexKind::Ivfflat => core::IndexKind::Ivfflat,
            IndexKind::None => core::IndexKind::None,
        }
    }
}

impl From<core::IndexKind> for IndexKind {
    fn from(k: core::IndexKind) -> Self {
        match k {
            core::IndexKind::Hnsw => IndexKind::Hnsw,
            core::IndexKind::Ivfflat => IndexKind::Ivfflat,
            core::IndexKind::None => IndexKind::None,
        }
    }
}

impl From<CollectionSpec> for core::CollectionSpec {
    fn from(s: CollectionSpec) -> Self {
        core::CollectionSpec {
            dims: s.dims,
            metric: s.metric.into(),
            index: s.index.into(),
            cache_similarity: s.cache_similarity,
        }
    }
}

impl From<core::CollectionInfo> for CollectionInfo {
    fn from(i: core::CollectionInfo) -> Self {
        CollectionInfo {
            name: i.name,
            spec: CollectionSpec {
                dims: i.spec.dims,
                metric: i.spec.metric.into(),
                index: i.spec.index.into(),
                cache_similarity: i.spec.cache_similarity,
            },
            count: i.count,
            version: i.version,
        }
    }
}

impl From<VectorRecord> for core::VectorRecord {
    fn from(r: VectorRecord) -> Self {
        core::VectorRecord {
            id: r.id,
            values: r.values,
            metadata: r.metadata,
        }
    }
}

impl From<core::VectorRecord> for VectorRecord {
    fn from(r: core::VectorRecord) -> Self {
        VectorRecord {
            id: r.id,
            values: r.values,
            metadata: r.metadata,
        }
    }
}

impl From<core::VectorPage> for VectorPage {
    fn from(p: core::VectorPage) -> Self {
        VectorPage {
            records: p.records.into_iter().map(Into::into).collect(),
            next: p.next,
            version: p.version,
        }
    }
}

impl From<core::Token> for Token {
    fn from(t: core::Token) -> Self {
        Token {
            incarnation: t.incarnation,
            version: t.version,
        }
    }
}

impl From<core::WriteResult> for WriteResult {
    fn from(w: core::WriteResult) -> Self {
        WriteResult {
            affected: w.affected,
            version: w.version,
        }
    }
}

impl From<SearchRequest> for core::SearchRequest {
    fn from(r: SearchRequest) -> Self {
        core::SearchRequest {
            vector: r.vector,
            k: r.k,
            filter: r.filter,
            include_values: r.include_values,
            include_metadata: r.include_metadata,
        }
    }
}

impl From<core::SearchResult> for SearchResult {
    fn from(r: core::SearchResult) -> Self {
        SearchResult {
            hits: r
                .hits
                .into_iter()
                .map(|h| SearchHit {
                    id: h.id,
                    score: h.score,
                    values: h.values,
                    metadata: h.metadata,
                })
                .collect(),
            version: r.version,
        }
    }
}

impl From<NewMemory> for core::NewMemory {
    fn from(m: NewMemory) -> Self {
        core::NewMemory {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content,
            embedding: m.embedding,
            metadata: m.metadata,
        }
    }
}

impl From<core::MemoryRecord> for MemoryRecord {
    fn from(m: core::MemoryRecord) -> Self {
        MemoryRecord {
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

impl From<MemoryQuery> for core::MemoryQuery {
    fn from(q: MemoryQuery) -> Self {
        core::MemoryQuery {
            embedding: q.embedding,
            k: q.k,
            session_id: q.session_id,
            include_embedding: q.include_embedding,
        }
    }
}

impl From<core::MemoryHit> for MemoryHit {
    fn from(h: core::MemoryHit) -> Self {
        MemoryHit {
            memory: h.memory.into(),
            score: h.score,
        }
    }
}

impl From<File> for core::File {
    fn from(f: File) -> Self {
        core::File {
            content_type: f.content_type,
            body: f.body,
        }
    }
}

impl From<core::File> for File {
    fn from(f: core::File) -> Self {
        File {
            content_type: f.content_type,
            body: f.body,
        }
    }
}

impl From<core::FileInfo> for FileInfo {
    fn from(i: core::FileInfo) -> Self {
        FileInfo {
            key: i.key,
            size: i.size,
            etag: i.etag,
        }
    }
}

type Res<T> = Result<T, Error>;

/// Converts a session call's result to its WIT form.
fn answer<T, W: From<T>>(result: Result<T, ApiError>) -> Res<W> {
    result.map(W::from).map_err(Error::from)
}

impl OriginCtx {
    fn session(&self, session: &Resource<Session>) -> Res<&Session> {
        self.table
            .get(session)
            .map_err(|e| ApiError::new(code::INVALID_SESSION, e.to_string()).into())
    }
}

impl Host for OriginCtx {
    async fn health(&mut self) -> String {
        self.origin.health().to_string()
    }
}

impl HostSession for OriginCtx {
    async fn open(&mut self, api_key: String) -> Res<Resource<Session>> {
        let session = self.origin.open(&api_key).await?;
        self.table
            .push(session)
            .map_err(|e| ApiError::new(code::TOO_MANY_SESSIONS, e.to_string()).into())
    }

    async fn project(&mut self, session: Resource<Session>) -> String {
        self.session(&session)
            .map(|s| s.project().id.to_string())
            .unwrap_or_default()
    }

    async fn create_collection(
        &mut self,
        s: Resource<Session>,
        name: String,
        spec: CollectionSpec,
    ) -> Res<CollectionInfo> {
        answer(self.session(&s)?.create_collection(&name, spec.into()).await)
    }

    async fn describe_collection(&mut self, s: Resource<Session>, name: String) -> Res<CollectionInfo> {
        answer(self.session(&s)?.describe_collection(&name).await)
    }

    async fn collection_token(&mut self, s: Resource<Session>, name: String) -> Res<Option<Token>> {
        let token = self.session(&s)?.collection_token(&name).await?;
        Ok(token.map(Token::from))
    }

    async fn drop_collection(&mut self, s: Resource<Session>, name: String) -> Res<()> {
        Ok(self.session(&s)?.drop_collection(&name).await?)
    }

    async fn upsert(
        &mut self,
        s: Resource<Session>,
        collection: String,
        records: Vec<VectorRecord>,
    ) -> Res<WriteResult> {
        let records = records.into_iter().map(Into::into).collect();
        answer(self.session(&s)?.upsert(&collection, records).await)
    }

    async fn get(&mut self, s: Resource<Session>, collection: String, id: String) -> Res<VectorRecord> {
        answer(self.session(&s)?.get(&collection, &id).await)
    }

    async fn list_vectors(
        &mut self,
        s: Resource<Session>,
        collection: String,
        after: Option<String>,
        limit: u32,
    ) -> Res<VectorPage> {
        answer(
            self.session(&s)?
                .list_vectors(&collection, after.as_deref(), limit)
                .await,
        )
    }

    async fn delete(&mut self, s: Resource<Session>, collection: String, id: String) -> Res<WriteResult> {
        answer(self.session(&s)?.delete(&collection, &id).await)
    }

    async fn search(&mut self, s: Resource<Session>, collection: String, request: SearchRequest) -> Res<SearchResult> {
        answer(self.session(&s)?.search(&collection, &request.into()).await)
    }

    async fn put_memory(&mut self, s: Resource<Session>, memory: NewMemory) -> Res<MemoryRecord> {
        answer(self.session(&s)?.put_memory(memory.into()).await)
    }

    async fn get_memory(&mut self, s: Resource<Session>, id: String) -> Res<MemoryRecord> {
        answer(self.session(&s)?.get_memory(&id).await)
    }

    async fn delete_memory(&mut self, s: Resource<Session>, id: String) -> Res<()> {
        Ok(self.session(&s)?.delete_memory(&id).await?)
    }

    async fn search_memory(&mut self, s: Resource<Session>, query: MemoryQuery) -> Res<Vec<MemoryHit>> {
        let hits = self.session(&s)?.search_memory(&query.into()).await?;
        Ok(hits.into_iter().map(Into::into).collect())
    }

    async fn put_file(&mut self, s: Resource<Session>, key: String, file: File) -> Res<FileInfo> {
        answer(self.session(&s)?.put_file(&key, file.into()).await)
    }

    async fn get_file(&mut self, s: Resource<Session>, key: String) -> Res<File> {
        answer(self.session(&s)?.get_file(&key).await)
    }

    async fn delete_file(&mut self, s: Resource<Session>, key: String) -> Res<()> {
        Ok(self.session(&s)?.delete_file(&key).await?)
    }

    async fn drop(&mut self, session: Resource<Session>) -> wasmtime::Result<()> {
        self.table.delete(session)?;
        Ok(())
    }
}
