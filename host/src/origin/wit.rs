//! The host side of the WIT boundary: the bindings of world
//! `zerodb:edge/edge-native` (its `front` export is called by
//! `runtime::front`), the conversions between the types of
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
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use wasmtime::component::{Accessor, HasData, Resource, ResourceTable};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "zerodb:edge/edge-native",
    // `front`, the export, is called from inside the instance's concurrent loop.
    exports: { default: async | store },
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
/// the sessions the instance opened, and the count of its calls waiting.
pub struct OriginCtx {
    pub origin: OriginService,
    pub table: ResourceTable,
    pub waits: Arc<OriginWaits>,
}

/// The origin calls of one instance that are waiting: each counts from
/// its first `Pending` poll (a call answered from memory never does) to
/// its end. An instance takes a new request only while fewer than its bound
/// of its requests are outside such a wait.
#[derive(Default)]
pub struct OriginWaits {
    waiting: AtomicUsize,
    started: Notify,
}

impl OriginWaits {
    /// Calls waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Resolves once a call has started waiting since the last such wake.
    pub async fn wait_started(&self) {
        self.started.notified().await
    }

    /// Runs `call`, counted as waiting while it is pending.
    async fn track<F: Future>(&self, call: F) -> F::Output {
        /// Uncounts the call however it ends (answered or dropped).
        struct Waiting<'a>(&'a OriginWaits);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.waiting.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let mut call = pin!(call);
        let mut waiting = None;
        std::future::poll_fn(|cx| {
            let polled = call.as_mut().poll(cx);
            if polled.is_pending() && waiting.is_none() {
                self.waiting.fetch_add(1, Ordering::Relaxed);
                waiting = Some(Waiting(self));
                self.started.notify_one();
            }
            polled
        })
        .await
    }
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
    store.with(|mut access| access.get().session(session))
}

impl OriginCtx {
    fn session(&self, session: &Resource<Session>) -> Res<Session> {
        self.table
            .get(session)
            .cloned()
            .map_err(|e| ApiError::new(code::INVALID_SESSION, e.to_string()).into())
    }
}

/// Runs `f` on the session behind `session`, counted among the instance's
/// waiting calls while it waits.
async fn call<T, R>(
    store: &Accessor<T, OriginAsync>,
    session: &Resource<Session>,
    f: impl AsyncFnOnce(&Session) -> R,
) -> Res<R> {
    let (session, waits) = store.with(|mut access| {
        let ctx = access.get();
        Ok::<_, Error>((ctx.session(session)?, ctx.waits.clone()))
    })?;
    Ok(waits.track(f(&session)).await)
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
        let (origin, waits) = store.with(|mut access| {
            let ctx = access.get();
            (ctx.origin.clone(), ctx.waits.clone())
        });
        let session = waits.track(origin.open(&api_key)).await?;
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
        answer(call(store, &s, async |s| s.create_collection(&name, spec.into()).await).await?)
    }

    async fn describe_collection(store: &Accessor<T, Self>, s: Resource<Session>, name: String) -> Res<CollectionInfo> {
        answer(call(store, &s, async |s| s.describe_collection(&name).await).await?)
    }

    async fn list_collections(store: &Accessor<T, Self>, s: Resource<Session>) -> Res<Vec<CollectionInfo>> {
        let all = call(store, &s, async |s| s.list_collections().await).await??;
        Ok(all.into_iter().map(Into::into).collect())
    }

    async fn collection_token(store: &Accessor<T, Self>, s: Resource<Session>, name: String) -> Res<Option<Token>> {
        let token = call(store, &s, async |s| s.collection_token(&name).await).await??;
        Ok(token.map(Token::from))
    }

    async fn drop_collection(store: &Accessor<T, Self>, s: Resource<Session>, name: String) -> Res<()> {
        Ok(call(store, &s, async |s| s.drop_collection(&name).await).await??)
    }

    async fn upsert(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        records: Vec<VectorRecord>,
    ) -> Res<WriteResult> {
        let records = records.into_iter().map(Into::into).collect();
        answer(call(store, &s, async |s| s.upsert(&collection, records).await).await?)
    }

    async fn get(store: &Accessor<T, Self>, s: Resource<Session>, collection: String, id: String) -> Res<VectorRecord> {
        answer(call(store, &s, async |s| s.get(&collection, &id).await).await?)
    }

    async fn list_vectors(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        after: Option<String>,
        limit: u32,
    ) -> Res<VectorPage> {
        answer(
            call(store, &s, async |s| {
                s.list_vectors(&collection, after.as_deref(), limit).await
            })
            .await?,
        )
    }

    async fn delete(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        id: String,
    ) -> Res<WriteResult> {
        answer(call(store, &s, async |s| s.delete(&collection, &id).await).await?)
    }

    async fn search(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        collection: String,
        request: SearchRequest,
    ) -> Res<SearchResult> {
        answer(call(store, &s, async |s| s.search(&collection, &request.into()).await).await?)
    }

    async fn put_memory(store: &Accessor<T, Self>, s: Resource<Session>, memory: NewMemory) -> Res<MemoryRecord> {
        answer(call(store, &s, async |s| s.put_memory(memory.into()).await).await?)
    }

    async fn get_memory(store: &Accessor<T, Self>, s: Resource<Session>, id: String) -> Res<MemoryRecord> {
        answer(call(store, &s, async |s| s.get_memory(&id).await).await?)
    }

    async fn update_memory(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        id: String,
        patch: MemoryPatch,
    ) -> Res<MemoryRecord> {
        answer(call(store, &s, async |s| s.update_memory(&id, &patch.into()).await).await?)
    }

    async fn delete_memory(store: &Accessor<T, Self>, s: Resource<Session>, id: String) -> Res<()> {
        Ok(call(store, &s, async |s| s.delete_memory(&id).await).await??)
    }

    async fn search_memory(store: &Accessor<T, Self>, s: Resource<Session>, query: MemoryQuery) -> Res<Vec<MemoryHit>> {
        let hits = call(store, &s, async |s| s.search_memory(&query.into()).await).await??;
        Ok(hits.into_iter().map(Into::into).collect())
    }

    async fn list_memory(store: &Accessor<T, Self>, s: Resource<Session>, page: MemoryList) -> Res<MemoryPage> {
        answer(call(store, &s, async |s| s.list_memory(&page.into()).await).await?)
    }

    async fn embed(
        store: &Accessor<T, Self>,
        s: Resource<Session>,
        model: Option<String>,
        texts: Vec<String>,
    ) -> Res<Embeddings> {
        answer(call(store, &s, async |s| s.embed(model.as_deref(), texts).await).await?)
    }

    async fn embedding_models(store: &Accessor<T, Self>, s: Resource<Session>) -> Res<Vec<EmbeddingModel>> {
        let models = session(store, &s)?.embedding_models();
        Ok(models.into_iter().map(Into::into).collect())
    }

    async fn put_file(store: &Accessor<T, Self>, s: Resource<Session>, key: String, file: File) -> Res<FileInfo> {
        answer(call(store, &s, async |s| s.put_file(&key, file.into()).await).await?)
    }

    async fn get_file(store: &Accessor<T, Self>, s: Resource<Session>, key: String) -> Res<File> {
        answer(call(store, &s, async |s| s.get_file(&key).await).await?)
    }

    async fn delete_file(store: &Accessor<T, Self>, s: Resource<Session>, key: String) -> Res<()> {
        Ok(call(store, &s, async |s| s.delete_file(&key).await).await??)
    }
}
