//! `edge_core::origin` over the two forms of the origin import: blocking
//! (`origin`, for hosts without the component model's async proposal) and
//! async (`origin-async`, where a call that waits lets the instance serve
//! other requests). Both share the types of `origin` and so one set of
//! conversions (`convert.rs`); their call sites differ only in awaiting.

use crate::{wit, wit_async};
use edge_core::error::ApiError;
use edge_core::model::*;
use edge_core::origin::{Connect, Origin};

/// Opens sessions through the blocking `origin` import.
pub struct BlockingConnect;

/// Opens sessions through the `origin-async` import.
pub struct AsyncConnect;

/// One project's session through the blocking import.
pub struct BlockingSession(wit::Session);

/// One project's session through the async import.
pub struct AsyncSession(wit_async::Session);

/// An argument of an import call, given owned: the blocking bindings
/// borrow it, the async ones take it (it must outlive the call's waits).
macro_rules! arg {
    (borrow, $e:expr) => {
        &$e
    };
    (own, $e:expr) => {
        $e
    };
}

/// An optional string argument, given borrowed (`Option<&str>`).
macro_rules! opt_arg {
    (borrow, $e:expr) => {
        $e
    };
    (own, $e:expr) => {
        $e.map(str::to_owned)
    };
}

/// Implements `Connect` and `Origin` over one form of the import: `$wit` is
/// its generated module, `$by` how its calls take arguments (`borrow` or
/// `own`), and the tokens in brackets follow each call (nothing for the
/// blocking form, `.await` for the async one).
macro_rules! origin_over {
    ($connect:ident, $session:ident, $wit:ident, $by:ident, [$($wait:tt)*]) => {
        impl Connect for $connect {
            type Session = $session;

            async fn open(&self, api_key: &str) -> Result<$session, ApiError> {
                Ok($session($wit::Session::open(arg!($by, api_key.to_owned()))$($wait)*?))
            }

            async fn health(&self) -> String {
                $wit::health()$($wait)*
            }
        }

        impl Origin for $session {
            async fn project(&self) -> String {
                self.0.project()$($wait)*
            }

            async fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo, ApiError> {
                Ok(self.0.create_collection(arg!($by, name.to_owned()), arg!($by, spec.into()))$($wait)*?.into())
            }

            async fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError> {
                Ok(self.0.describe_collection(arg!($by, name.to_owned()))$($wait)*?.into())
            }

            async fn list_collections(&self) -> Result<Vec<CollectionInfo>, ApiError> {
                let all = self.0.list_collections()$($wait)*?;
                Ok(all.into_iter().map(Into::into).collect())
            }

            async fn collection_token(&self, name: &str) -> Result<Option<Token>, ApiError> {
                Ok(self.0.collection_token(arg!($by, name.to_owned()))$($wait)*?.map(Into::into))
            }

            async fn drop_collection(&self, name: &str) -> Result<(), ApiError> {
                Ok(self.0.drop_collection(arg!($by, name.to_owned()))$($wait)*?)
            }

            async fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError> {
                let records: Vec<wit::VectorRecord> = records.iter().cloned().map(Into::into).collect();
                Ok(self.0.upsert(arg!($by, collection.to_owned()), arg!($by, records))$($wait)*?.into())
            }

            async fn get(&self, collection: &str, id: &str) -> Result<VectorRecord, ApiError> {
                Ok(self.0.get(arg!($by, collection.to_owned()), arg!($by, id.to_owned()))$($wait)*?.into())
            }

            async fn list_vectors(&self, collection: &str, after: Option<&str>, limit: u32) -> Result<VectorPage, ApiError> {
                Ok(self.0.list_vectors(arg!($by, collection.to_owned()), opt_arg!($by, after), limit)$($wait)*?.into())
            }

            async fn delete(&self, collection: &str, id: &str) -> Result<WriteResult, ApiError> {
                Ok(self.0.delete(arg!($by, collection.to_owned()), arg!($by, id.to_owned()))$($wait)*?.into())
            }

            async fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError> {
                Ok(self.0.search(arg!($by, collection.to_owned()), arg!($by, request.clone().into()))$($wait)*?.into())
            }

            async fn put_memory(&self, m: NewMemory) -> Result<MemoryRecord, ApiError> {
                Ok(self.0.put_memory(arg!($by, m.into()))$($wait)*?.into())
            }

            async fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError> {
                Ok(self.0.get_memory(arg!($by, id.to_owned()))$($wait)*?.into())
            }

                        async fn update_memory(&self, id: &str, patch: &MemoryPatch) -> Result<MemoryRecord, ApiError> {
                Ok(self.0.update_memory(arg!($by, id.to_owned()), arg!($by, patch.clone().into()))$($wait)*?.into())
            }

            async fn delete_memory(&self, id: &str) -> Result<(), ApiError> {
                Ok(self.0.delete_memory(arg!($by, id.to_owned()))$($wait)*?)
            }

            async fn search_memory(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError> {
                let hits = self.0.search_memory(arg!($by, query.clone().into()))$($wait)*?;
                Ok(hits.into_iter().map(Into::into).collect())
            }

            async fn list_memory(&self, query: &MemoryList) -> Result<MemoryPage, ApiError> {
                Ok(self.0.list_memory(arg!($by, query.clone().into()))$($wait)*?.into())
            }

            async fn embed(&self, model: Option<&str>, texts: &[String]) -> Result<Embeddings, ApiError> {
                Ok(self.0.embed(opt_arg!($by, model), arg!($by, texts.to_vec()))$($wait)*?.into())
            }

            async fn embedding_models(&self) -> Result<Vec<EmbeddingModel>, ApiError> {
                let all = self.0.embedding_models()$($wait)*?;
                Ok(all.into_iter().map(Into::into).collect())
            }

            async fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError> {
                Ok(self.0.put_file(arg!($by, key.to_owned()), arg!($by, file.into()))$($wait)*?.into())
            }

            async fn get_file(&self, key: &str) -> Result<File, ApiError> {
                Ok(self.0.get_file(arg!($by, key.to_owned()))$($wait)*?.into())
            }

            async fn delete_file(&self, key: &str) -> Result<(), ApiError> {
                Ok(self.0.delete_file(arg!($by, key.to_owned()))$($wait)*?)
            }
        }
    };
}

origin_over!(BlockingConnect, BlockingSession, wit, borrow, []);
origin_over!(AsyncConnect, AsyncSession, wit_async, own, [.await]);
