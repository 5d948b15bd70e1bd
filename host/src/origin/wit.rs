//! The host side of the WIT boundary: the bindings of `zerodb:edge/origin`,
//! the conversions between its types and the core's (here only, from
//! `edge_core::wit_conversions!`), and the
//! import that components in this host call, a thin adapter over
//! [`OriginService`]: a cache miss becomes a direct call into the store, with
//! no network hop.

use super::{OriginService, Session};
use edge_core::error::{code, ApiError};
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

// Every WIT record and enum to and from its core type.
edge_core::wit_conversions!(zerodb::edge::origin);

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
