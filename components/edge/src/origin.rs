//! `edge_core::origin` backed by the `zerodb:edge/origin` import: type
//! conversions only.

use crate::zerodb::edge::origin as wit;
use crate::zerodb::edge::origin::Session;
use edge_core::error::{ApiError, ErrorKind};
use edge_core::model::*;
use edge_core::origin::{Connect, Origin};

pub struct WitConnect;

impl Connect for WitConnect {
    type Session = WitSession;

    fn open(&self, api_key: &str) -> Result<WitSession, ApiError> {
        Ok(WitSession(Session::open(api_key).map_err(error)?))
    }

    fn health(&self) -> String {
        crate::zerodb::edge::origin::health()
    }
}

pub struct WitSession(Session);

fn error(e: wit::Error) -> ApiError {
    let kind = match e.code {
        wit::ErrorCode::BadRequest => ErrorKind::BadRequest,
        wit::ErrorCode::Unauthorized => ErrorKind::Unauthorized,
        wit::ErrorCode::Forbidden => ErrorKind::Forbidden,
        wit::ErrorCode::NotFound => ErrorKind::NotFound,
        wit::ErrorCode::MethodNotAllowed => ErrorKind::MethodNotAllowed,
        wit::ErrorCode::Conflict => ErrorKind::Conflict,
        wit::ErrorCode::TooLarge => ErrorKind::TooLarge,
        wit::ErrorCode::Invalid => ErrorKind::Invalid,
        wit::ErrorCode::Unavailable => ErrorKind::Unavailable,
        wit::ErrorCode::Internal => ErrorKind::Internal,
    };
    ApiError {
        kind,
        code: e.reason,
        message: e.message,
        retry_after_secs: e.retry_after_secs,
    }
}

fn spec_to_wit(spec: CollectionSpec) -> wit::CollectionSpec {
    wit::CollectionSpec {
        dims: spec.dims,
        metric: match spec.metric {
            Metric::Cosine => wit::Metric::Cosine,
            Metric::L2 => wit::Metric::L2,
            Metric::Dot => wit::Metric::Dot,
        },
        index: match spec.index {
            IndexKind::Hnsw => wit::IndexKind::Hnsw,
            IndexKind::Ivfflat => wit::IndexKind::Ivfflat,
            IndexKind::None => wit::IndexKind::None,
        },
        cache_similarity: spec.cache_similarity,
    }
}

fn info(info: wit::CollectionInfo) -> CollectionInfo {
    CollectionInfo {
        name: info.name,
        spec: CollectionSpec {
            dims: info.spec.dims,
            metric: match info.spec.metric {
                wit::Metric::Cosine => Metric::Cosine,
                wit::Metric::L2 => Metric::L2,
                wit::Metric::Dot => Metric::Dot,
            },
            index: match info.spec.index {
                wit::IndexKind::Hnsw => IndexKind::Hnsw,
                wit::IndexKind::Ivfflat => IndexKind::Ivfflat,
                wit::IndexKind::None => IndexKind::None,
            },
            cache_similarity: info.spec.cache_similarity,
        },
        count: info.count,
        version: info.version,
    }
}

fn record(r: wit::VectorRecord) -> VectorRecord {
    VectorRecord {
        id: r.id,
        values: r.values,
        metadata: r.metadata,
    }
}

fn write(w: wit::WriteResult) -> WriteResult {
    WriteResult {
        affected: w.affected,
        version: w.version,
    }
}

fn memory(m: wit::MemoryRecord) -> MemoryRecord {
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

impl Origin for WitSession {
    fn project(&self) -> String {
        self.0.project()
    }

    fn create_collection(&self, name: &str, spec: CollectionSpec) -> Result<CollectionInfo, ApiError> {
        self.0
            .create_collection(name, spec_to_wit(spec))
            .map(info)
            .map_err(error)
    }

    fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError> {
        self.0.describe_collection(name).map(info).map_err(error)
    }

    fn collection_token(&self, name: &str) -> Result<Option<Token>, ApiError> {
        let token = self.0.collection_token(name).map_err(error)?;
        Ok(token.map(|t| Token {
            incarnation: t.incarnation,
            version: t.version,
        }))
    }

    fn drop_collection(&self, name: &str) -> Result<(), ApiError> {
        self.0.drop_collection(name).map_err(error)
    }

    fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError> {
        let records: Vec<wit::VectorRecord> = records
            .iter()
            .map(|r| wit::VectorRecord {
                id: r.id.clone(),
                values: r.values.clone(),
                metadata: r.metadata.clone(),
            })
            .collect();
        self.0.upsert(collection, &records).map(write).map_err(error)
    }

    fn get(&self, collection: &str, id: &str) -> Result<VectorRecord, ApiError> {
        self.0.get(collection, id).map(record).map_err(error)
    }

    fn list_vectors(&self, collection: &str, after: Option<&str>, limit: u32) -> Result<VectorPage, ApiError> {
        let page = self.0.list_vectors(collection, after, limit).map_err(error)?;
        Ok(VectorPage {
            records: page.records.into_iter().map(record).collect(),
            next: page.next,
            version: page.version,
        })
    }

    fn delete(&self, collection: &str, id: &str) -> Result<WriteResult, ApiError> {
        self.0.delete(collection, id).map(write).map_err(error)
    }

    fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError> {
        let request = wit::SearchRequest {
            vector: request.vector.clone(),
            k: request.k,
            filter: request.filter.clone(),
            include_values: request.include_values,
            include_metadata: request.include_metadata,
        };
        let result = self.0.search(collection, &request).map_err(error)?;
        Ok(SearchResult {
            hits: result
                .hits
                .into_iter()
                .map(|h| SearchHit {
                    id: h.id,
                    score: h.score,
                    values: h.values,
                    metadata: h.metadata,
                })
                .collect(),
            version: result.version,
        })
    }

    fn put_memory(&self, m: NewMemory) -> Result<MemoryRecord, ApiError> {
        let m = wit::NewMemory {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content,
            embedding: m.embedding,
            metadata: m.metadata,
        };
        self.0.put_memory(&m).map(memory).map_err(error)
    }

    fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError> {
        self.0.get_memory(id).map(memory).map_err(error)
    }

    fn delete_memory(&self, id: &str) -> Result<(), ApiError> {
        self.0.delete_memory(id).map_err(error)
    }

    fn search_memory(&self, query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError> {
        let query = wit::MemoryQuery {
            embedding: query.embedding.clone(),
            k: query.k,
            session_id: query.session_id.clone(),
            include_embedding: query.include_embedding,
        };
        let hits = self.0.search_memory(&query).map_err(error)?;
        Ok(hits
            .into_iter()
            .map(|h| MemoryHit {
                memory: memory(h.memory),
                score: h.score,
            })
            .collect())
    }

    fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError> {
        let file = wit::File {
            content_type: file.content_type,
            body: file.body,
        };
        let info = self.0.put_file(key, &file).map_err(error)?;
        Ok(FileInfo {
            key: info.key,
            size: info.size,
            etag: info.etag,
        })
    }

    fn get_file(&self, key: &str) -> Result<File, ApiError> {
        let file = self.0.get_file(key).map_err(error)?;
        Ok(File {
            content_type: file.content_type,
            body: file.body,
        })
    }

    fn delete_file(&self, key: &str) -> Result<(), ApiError> {
        self.0.delete_file(key).map_err(error)
    }
}
