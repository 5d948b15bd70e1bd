//! `edge_core::origin` backed by the `zerodb:edge/origin` import, called
//! synchronously (what both fronts do today; a front that lowers the import
//! async writes its own call site over the same conversions, `convert.rs`).

use crate::wit;
use edge_core::error::ApiError;
use edge_core::model::*;
use edge_core::origin::{Connect, Origin};

/// Opens sessions through the import; the `Connect` both fronts hand to
/// [`edge_core::Edge::handle`].
pub struct WitConnect;

impl Connect for WitConnect {
    type Session = WitSession;

    fn open(&self, api_key: &str) -> Result<WitSession, ApiError> {
        Ok(WitSession(wit::Session::open(api_key)?))
    }

    fn health(&self) -> String {
        wit::health()
    }
}

/// One project's session: the import's resource.
pub struct WitSession(wit::Session);

impl Origin for WitSession {
    fn project(&self) -> String {
        self.0.project()
    }

    fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo, ApiError> {
        Ok(self.0.create_collection(name, spec.into())?.into())
    }

    fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError> {
        Ok(self.0.describe_collection(name)?.into())
    }

    fn collection_token(&self, name: &str) -> Result<Option<Token>, ApiError> {
        Ok(self.0.collection_token(name)?.map(Into::into))
    }

    fn drop_collection(&self, name: &str) -> Result<(), ApiError> {
        Ok(self.0.drop_collection(name)?)
    }

    fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError> {
        let records: Vec<wit::VectorRecord> = records.iter().cloned().map(Into::into).collect();
        Ok(self.0.upsert(collection, &records)?.into())
    }

    fn get(&self, collection: &str, id: &str) -> Result<VectorRecord, ApiError> {
        Ok(self.0.get(collection, id)?.into())
    }

    fn list_vectors(&self, collection: &str, after: Option<&str>, limit: u32) -> Result<VectorPage, ApiError> {
        Ok(self.0.list_vectors(collection, after, limit)?.into())
    }

    fn delete(&self, collection: &str, id: &str) -> Result<WriteResult, ApiError> {
        Ok(self.0.delete(collection, id)?.into())
    }

    fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError> {
        Ok(self.0.search(collection, &request.clone().into())?.into())
    }

    fn put_memory(&self, m: NewMemory) -> Result<MemoryRecord, ApiError> {
        Ok(self.0.put_memory(&m.into())?.into())
    }

    fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError> {
        Ok(self.0.get_memory(id)?.into())
    }

    fn delete_memory(&self, id: &str) -> Result<(), ApiError> {
        Ok(self.0.delete_memory(id)?)
    }

    fn search_memory(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError> {
        let hits = self.0.search_memory(&query.clone().into())?;
        Ok(hits.into_iter().map(Into::into).collect())
    }

    fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError> {
        Ok(self.0.put_file(key, &file.into())?.into())
    }

    fn get_file(&self, key: &str) -> Result<File, ApiError> {
        Ok(self.0.get_file(key)?.into())
    }

    fn delete_file(&self, key: &str) -> Result<(), ApiError> {
        Ok(self.0.delete_file(key)?)
    }
}
