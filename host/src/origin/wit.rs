//! The host side of the WIT boundary: the bindings of world
//! `zerodb:edge/edge-concurrent`, the conversions between the types of
//! `zerodb:edge/origin` and the core's (here only, from
//! `edge_core::wit_conversions!`), and the `origin-async` import that
//! components in this host call: a thin adapter over [`OriginService`], so
//! that a cache miss is a direct call into the store, with no network hop.
//!
//! Every call is a concurrent host function: it takes the instance's store
//! only to find its session, then lets go of it while the store works, so
//! the instance goes on serving other requests.

use super::{OriginService, Session};
use edge_core::error::{code, ApiError};
use wasmtime::component::{Accessor, HasData, Resource, ResourceTable};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "zerodb:edge/edge-concurrent",
    with: {
        "zerodb:edge/origin.session": crate::origin::Session,
        "zerodb:edge/origin-async.session": crate::origin::Session,
    },
    // The origin API (`origin::http`) carries these types as JSON.
    additional_derives: [serde::Serialize, serde::Deserialize],
});

use zerodb::edge::origin::*;
use zerodb::edge::origin_async::{Host, HostSession, HostSessionWithStore, HostWithStore};

/// What origin calls need from a component instance's store: the service,
/// and the sessions the instance opened.
pub struct OriginCtx {
    pub origin: OriginService,
    pub table: ResourceTable,
}

/// Adds the `origin-async` import to a linker whose store data gives an
/// [`OriginCtx`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut OriginCtx,
) -> wasmtime::Result<()> {
    zerodb::edge::origin_async::add_to_linker::<T, OriginAsync>(linker, get)
}

/// The [`HasData`] of the `origin-async` import: an instance's [`OriginCtx`].
pub struct OriginAsync;

impl HasData for OriginAsync {
    type Data<'a> = &'a mut OriginCtx;
}

// Every WIT record and enum to and from its core type.
edge_core::wit_conversions!(zerodb::edge::origin);

type Res<T> = Result<T, Error>;

/// Converts a session call's result to its WIT form.
fn answer<T, W: From<T>>(result: Result<T, ApiError>) -> Res<W> {
    result.map(W::from).map_err(Error::from)
}

/// The session behind `session`, cloned out of the instance's table so that
/// the call does not hold the store while it waits.
fn session<T>(store: &Accessor<T, OriginAsync>, session: &Resource<Session>) -> Res<Session> {
    store.with(|mut access| {
        let ctx = access.get();
        ctx.table
            .get(session)
            .cloned()
            .map_err(|e| ApiError::new(code::INVALID_SESSION, e.to_string()).into())
    })
}

impl Host for OriginCtx {}

impl HostSession for OriginCtx {
    fn drop(&mut self, session: Resource<Session>) -> wasmtime::Result<()> {
        self.table.delete(session)?;
        Ok(())
    }
}

impl<T> HostWithStore<T> for OriginAsync {
    async fn health(store: &Accessor<T, Self>) -> String {
        store.with(|mut access| access.get().origin.health().to_string())
    }
}

impl<T> HostSessionWithStore<T> for OriginAsync {
    async fn open(store: &Accessor<T, Self>, api_key: String) -> Res<Resource<Session>> {
        let origin = store.with(|mut access| access.get().origin.clone());
        let session = origin.open(&api_key).await?;
        store.with(|mut access| {
            access
                .get()
                .table
                .push(session)
                .map_err(|e| ApiError::new(code::TOO_MANY_SESSIONS, e.to_string()).into())
        })
    }

    async fn project(store: &Accessor<T, Self>, s: Resource<Session>) -> String {
        session(store, &s)
            .map(|s| s.project().uuid.to_string())
            .unwrap_or_default()
    }

    async fn create_collection(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        name: String,
        spec: CollectionSpec,
    ) -> Res<CollectionInfo> {
        answer(session(store, &s)?.create_collection(&name, spec.into()).await)
    }

    async fn describe_collection(store: &Accessor<T, Self>, s: Resource<Session>, name: String) -> Res<CollectionInfo> {
        answer(session(store, &s)?.describe_collection(&name).await)
    }

    async fn list_collections(store: &Accessor<T, Self>, s: Resource<Session>) -> Res<Vec<CollectionInfo>> {
        let all = session(store, &s)?.list_collections().await?;
        Ok(all.into_iter().map(Into::into).collect())
    }

    async fn collection_token(store: &Accessor<T, Self>, s: Resource<Session>, name: String) -> Res<Option<Token>> {
        let token = session(store, &s)?.collection_token(&name).await?;
        Ok(token.map(Token::from))
    }

    async fn drop_collection(store: &Accessor<T, Self>, s: Resource<Session>, name: String) -> Res<()> {
        Ok(session(store, &s)?.drop_collection(&name).await?)
    }

    async fn upsert(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        records: Vec<VectorRecord>,
    ) -> Res<WriteResult> {
        let records = records.into_iter().map(Into::into).collect();
        answer(session(store, &s)?.upsert(&collection, records).await)
    }

    async fn get(store: &Accessor<T, Self>, s: Resource<Session>, collection: String, id: String) -> Res<VectorRecord> {
        answer(session(store, &s)?.get(&collection, &id).await)
    }

    async fn list_vectors(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        after: Option<String>,
        limit: u32,
    ) -> Res<VectorPage> {
        answer(
            session(store, &s)?
                .list_vectors(&collection, after.as_deref(), limit)
                .await,
        )
    }

    async fn delete(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        id: String,
    ) -> Res<WriteResult> {
        answer(session(store, &s)?.delete(&collection, &id).await)
    }

    async fn search(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        request: SearchRequest,
    ) -> Res<SearchResult> {
        answer(session(store, &s)?.search(&collection, &request.into()).await)
    }

    async fn put_memory(store: &Accessor<T, Self>, s: Resource<Session>, memory: NewMemory) -> Res<MemoryRecord> {
        answer(session(store, &s)?.put_memory(memory.into()).await)
    }

    async fn get_memory(store: &Accessor<T, Self>, s: Resource<Session>, id: String) -> Res<MemoryRecord> {
        answer(session(store, &s)?.get_memory(&id).await)
    }

    async fn update_memory(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        id: String,
        patch: MemoryPatch,
    ) -> Res<MemoryRecord> {
        answer(session(store, &s)?.update_memory(&id, &patch.into()).await)
    }

    async fn delete_memory(store: &Accessor<T, Self>, s: Resource<Session>, id: String) -> Res<()> {
        Ok(session(store, &s)?.delete_memory(&id).await?)
    }

    async fn search_memory(store: &Accessor<T, Self>, s: Resource<Session>, query: MemoryQuery) -> Res<Vec<MemoryHit>> {
        let hits = session(store, &s)?.search_memory(&query.into()).await?;
        Ok(hits.into_iter().map(Into::into).collect())
    }

    async fn list_memory(store: &Accessor<T, Self>, s: Resource<Session>, page: MemoryList) -> Res<MemoryPage> {
        answer(session(store, &s)?.list_memory(&page.into()).await)
    }

    async fn embed(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        model: Option<String>,
        texts: Vec<String>,
    ) -> Res<Embeddings> {
        answer(session(store, &s)?.embed(model.as_deref(), texts).await)
    }

    async fn embedding_models(store: &Accessor<T, Self>, s: Resource<Session>) -> Res<Vec<EmbeddingModel>> {
        let models = session(store, &s)?.embedding_models();
        Ok(models.into_iter().map(Into::into).collect())
    }

    async fn put_file(store: &Accessor<T, Self>, s: Resource<Session>, key: String, file: File) -> Res<FileInfo> {
        answer(session(store, &s)?.put_file(&key, file.into()).await)
    }

    async fn get_file(store: &Accessor<T, Self>, s: Resource<Session>, key: String) -> Res<File> {
        answer(session(store, &s)?.get_file(&key).await)
    }

    async fn delete_file(store: &Accessor<T, Self>, s: Resource<Session>, key: String) -> Res<()> {
        Ok(session(store, &s)?.delete_file(&key).await?)
    }
}
