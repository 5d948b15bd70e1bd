//! The guest side of the WIT boundary: every `zerodb:edge/origin` type to or
//! from its edge-core counterpart. Conversions only, no calls, so that a
//! front calling the import its own way (sync or async) shares them.

use crate::wit;
use edge_core::error::{ApiError, ErrorKind};
use edge_core::model::*;

impl From<wit::Error> for ApiError {
    fn from(e: wit::Error) -> Self {
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
}

impl From<Metric> for wit::Metric {
    fn from(metric: Metric) -> Self {
        match metric {
            Metric::Cosine => wit::Metric::Cosine,
            Metric::L2 => wit::Metric::L2,
            Metric::Dot => wit::Metric::Dot,
        }
    }
}

impl From<wit::Metric> for Metric {
    fn from(metric: wit::Metric) -> Self {
        match metric {
            wit::Metric::Cosine => Metric::Cosine,
            wit::Metric::L2 => Metric::L2,
            wit::Metric::Dot => Metric::Dot,
        }
    }
}

impl From<IndexKind> for wit::IndexKind {
    fn from(index: IndexKind) -> Self {
        match index {
            IndexKind::Hnsw => wit::IndexKind::Hnsw,
            IndexKind::Ivfflat => wit::IndexKind::Ivfflat,
            IndexKind::None => wit::IndexKind::None,
        }
    }
}

impl From<wit::IndexKind> for IndexKind {
    fn from(index: wit::IndexKind) -> Self {
        match index {
            wit::IndexKind::Hnsw => IndexKind::Hnsw,
            wit::IndexKind::Ivfflat => IndexKind::Ivfflat,
            wit::IndexKind::None => IndexKind::None,
        }
    }
}

impl From<CollectionSpec> for wit::CollectionSpec {
    fn from(spec: CollectionSpec) -> Self {
        wit::CollectionSpec {
            dims: spec.dims,
            metric: spec.metric.into(),
            index: spec.index.into(),
            cache_similarity: spec.cache_similarity,
        }
    }
}

impl From<wit::CollectionSpec> for CollectionSpec {
    fn from(spec: wit::CollectionSpec) -> Self {
        CollectionSpec {
            dims: spec.dims,
            metric: spec.metric.into(),
            index: spec.index.into(),
            cache_similarity: spec.cache_similarity,
        }
    }
}

impl From<wit::CollectionInfo> for CollectionInfo {
    fn from(info: wit::CollectionInfo) -> Self {
        CollectionInfo {
            name: info.name,
            spec: info.spec.into(),
            count: info.count,
            version: info.version,
        }
    }
}

impl From<wit::Token> for Token {
    fn from(t: wit::Token) -> Self {
        Token {
            incarnation: t.incarnation,
            version: t.version,
        }
    }
}

impl From<&VectorRecord> for wit::VectorRecord {
    fn from(r: &VectorRecord) -> Self {
        wit::VectorRecord {
            id: r.id.clone(),
            values: r.values.clone(),
            metadata: r.metadata.clone(),
        }
    }
}

impl From<wit::VectorRecord> for VectorRecord {
    fn from(r: wit::VectorRecord) -> Self {
        VectorRecord {
            id: r.id,
            values: r.values,
            metadata: r.metadata,
        }
    }
}

impl From<wit::VectorPage> for VectorPage {
    fn from(page: wit::VectorPage) -> Self {
        VectorPage {
            records: page.records.into_iter().map(Into::into).collect(),
            next: page.next,
            version: page.version,
        }
    }
}

impl From<wit::WriteResult> for WriteResult {
    fn from(w: wit::WriteResult) -> Self {
        WriteResult {
            affected: w.affected,
            version: w.version,
        }
    }
}

impl From<&SearchRequest> for wit::SearchRequest {
    fn from(request: &SearchRequest) -> Self {
        wit::SearchRequest {
            vector: request.vector.clone(),
            k: request.k,
            filter: request.filter.clone(),
            include_values: request.include_values,
            include_metadata: request.include_metadata,
        }
    }
}

impl From<wit::SearchResult> for SearchResult {
    fn from(result: wit::SearchResult) -> Self {
        SearchResult {
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
        }
    }
}

impl From<NewMemory> for wit::NewMemory {
    fn from(m: NewMemory) -> Self {
        wit::NewMemory {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content,
            embedding: m.embedding,
            metadata: m.metadata,
        }
    }
}

impl From<wit::MemoryRecord> for MemoryRecord {
    fn from(m: wit::MemoryRecord) -> Self {
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

impl From<&MemoryQuery> for wit::MemoryQuery {
    fn from(query: &MemoryQuery) -> Self {
        wit::MemoryQuery {
            embedding: query.embedding.clone(),
            k: query.k,
            session_id: query.session_id.clone(),
            include_embedding: query.include_embedding,
        }
    }
}

impl From<wit::MemoryHit> for MemoryHit {
    fn from(h: wit::MemoryHit) -> Self {
        MemoryHit {
            memory: h.memory.into(),
            score: h.score,
        }
    }
}

impl From<File> for wit::File {
    fn from(file: File) -> Self {
        wit::File {
            content_type: file.content_type,
            body: file.body,
        }
    }
}

impl From<wit::File> for File {
    fn from(file: wit::File) -> Self {
        File {
            content_type: file.content_type,
            body: file.body,
        }
    }
}

impl From<wit::FileInfo> for FileInfo {
    fn from(info: wit::FileInfo) -> Self {
        FileInfo {
            key: info.key,
            size: info.size,
            etag: info.etag,
        }
    }
}
