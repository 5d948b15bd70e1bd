//! The conversions across the WIT boundary, declared once for both sides.
//!
//! The host (wasmtime's `bindgen!`) and the guest (`wit-bindgen`) each
//! generate their own Rust types for the records and enums of
//! `zerodb:edge/origin`, with the same names and fields as this crate's
//! [`model`](crate::model) and [`error`](crate::error) types. Each side calls
//! [`wit_conversions!`](crate::wit_conversions) once, in its one conversion
//! file, with the path of its generated module; a field added to the WIT
//! package and not to the model (or the other way round) fails to compile on
//! both sides.

/// Implements `From` both ways between every record and enum of
/// `zerodb:edge/origin`, as generated in the module at the given path (e.g.
/// `zerodb::edge::origin`), and its `edge_core` counterpart; the `error`
/// record converts to and from [`ApiError`](crate::error::ApiError), its
/// `error-code` to and from [`ErrorKind`](crate::error::ErrorKind).
#[macro_export]
macro_rules! wit_conversions {
    ($($path:ident)::+) => {
        // One name for the generated module, whichever path it was given.
        const _: () = {
            use $($path)::+ as wit;
            $crate::__wit_enums! { wit;
                Metric => model::Metric { Cosine, L2, Dot }
                IndexKind => model::IndexKind { Hnsw, Ivfflat, None }
                ErrorCode => error::ErrorKind {
                    BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                    Conflict, TooLarge, Invalid, Unavailable, Internal
                }
            }
            $crate::__wit_records! { wit;
                CollectionSpec { dims, metric, index, cache_similarity, model }
                CollectionInfo { name, spec, count, version }
                VectorRecord { id, values, metadata, document, source, written_at_us }
                VectorPage { records: list, next, version }
                SearchRequest { vector, k, filter, include_values, include_metadata }
                SearchHit { id, score, values, metadata, document, source, written_at_us }
                SearchResult { hits: list, version }
                Token { incarnation, version }
                WriteResult { affected, version, at_us }
                MemoryRecord { id, session_id, agent_id, role, content, embedding, metadata, created_at_ms }
                                MemoryPatch { session_id, agent_id, role, content, embedding, metadata }
                NewMemory { id, session_id, agent_id, role, content, embedding, metadata }
                MemoryQuery { embedding, k, session_id, agent_id, role, include_embedding }
                MemoryList { skip, limit, session_id, agent_id, role }
                MemoryPage { records: list, total }
                MemoryHit { memory, score }
                File { content_type, body }
                FileInfo { key, size, etag }
                EmbeddingModel { name, dims, max_tokens, pooling, normalized, is_default }
                Embeddings { model, dims, vectors }
            }

            impl From<$crate::error::ApiError> for wit::Error {
                fn from(e: $crate::error::ApiError) -> Self {
                    Self {
                        code: e.kind.into(),
                        reason: e.code,
                        message: e.message,
                        retry_after_secs: e.retry_after_secs,
                    }
                }
            }

            impl From<wit::Error> for $crate::error::ApiError {
                fn from(e: wit::Error) -> Self {
                    Self {
                        kind: e.code.into(),
                        code: e.reason,
                        message: e.message,
                        retry_after_secs: e.retry_after_secs,
                    }
                }
            }
        };
    };
}

/// Both directions of each enum; for [`wit_conversions!`](crate::wit_conversions) only.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_enums {
    ($wit:ident; $($generated:ident => $module:ident::$core:ident { $($case:ident),* $(,)? })*) => {$(
        impl From<$wit::$generated> for $crate::$module::$core {
            fn from(value: $wit::$generated) -> Self {
                match value {
                    $($wit::$generated::$case => Self::$case,)*
                }
            }
        }

        impl From<$crate::$module::$core> for $wit::$generated {
            fn from(value: $crate::$module::$core) -> Self {
                match value {
                    $($crate::$module::$core::$case => Self::$case,)*
                }
            }
        }
    )*};
}

/// Both directions of each record, field by field (`field: list` is a list
/// converted item by item); for [`wit_conversions!`](crate::wit_conversions) only.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_records {
    ($wit:ident; $($record:ident { $($field:ident $(: $kind:ident)?),* $(,)? })*) => {$(
        impl From<$wit::$record> for $crate::model::$record {
            fn from(value: $wit::$record) -> Self {
                Self { $($field: $crate::__wit_field!(value.$field $($kind)?),)* }
            }
        }

        impl From<$crate::model::$record> for $wit::$record {
            fn from(value: $crate::model::$record) -> Self {
                Self { $($field: $crate::__wit_field!(value.$field $($kind)?),)* }
            }
        }
    )*};
}

/// One field's conversion; for [`wit_conversions!`](crate::wit_conversions) only.
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_field {
    ($value:ident.$field:ident list) => {
        $value.$field.into_iter().map(Into::into).collect()
    };
    ($value:ident.$field:ident) => {
        $value.$field.into()
    };
}
