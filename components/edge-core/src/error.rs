//! The error vocabulary of the v1 API and the origin: each [`ErrorKind`] with
//! its HTTP status and its case of the WIT `error-code` enum, and each error
//! [`code`] with its kind, declared once here. The README's error table lists
//! the same codes (a unit test keeps the two equal).

use serde::{Deserialize, Serialize};

macro_rules! kinds {
    ($($(#[doc = $doc:literal])* $kind:ident = $status:literal, $wit:literal;)*) => {
        /// The class of an error: one HTTP status, one case of the WIT
        /// `error-code` enum (`zerodb:edge/origin`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in the order of the WIT enum.
            pub const ALL: &[ErrorKind] = &[$(ErrorKind::$kind),*];

            /// The HTTP status this kind answers with.
            pub const fn status(self) -> u16 {
                match self { $(ErrorKind::$kind => $status,)* }
            }

            /// The kind's case of the WIT `error-code` enum (`not-found`).
            pub const fn wit_name(self) -> &'static str {
                match self { $(ErrorKind::$kind => $wit,)* }
            }
        }
    };
}

kinds! {
    /// The request cannot be understood.
    BadRequest = 400, "bad-request";
    /// No key, or a key that does not exist or was revoked.
    Unauthorized = 401, "unauthorized";
    /// The key may not do this.
    Forbidden = 403, "forbidden";
    /// No such route, collection, vector, memory record or file in this project.
    NotFound = 404, "not-found";
    /// The route exists, not with this method.
    MethodNotAllowed = 405, "method-not-allowed";
    /// Exists with a different spec.
    Conflict = 409, "conflict";
    /// Too much in one request.
    TooLarge = 413, "too-large";
    /// Well-formed but invalid (dimensions, values, k).
    Invalid = 422, "invalid";
    /// Something the request needs is down, or a transient conflict; retry later.
    Unavailable = 503, "unavailable";
    /// A bug or an unexpected state.
    Internal = 500, "internal";
}

/// One error code: the stable snake_case text clients match on, and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// The code's text, e.g. `dimension_mismatch`.
    pub name: &'static str,
    /// Its kind, and so its status.
    pub kind: ErrorKind,
}

macro_rules! codes {
    ($($(#[doc = $doc:literal])* $constant:ident = $name:literal, $kind:ident;)*) => {
        $($(#[doc = $doc])* pub const $constant: Code = Code { name: $name, kind: ErrorKind::$kind };)*

        /// Every code, in the README's order.
        pub const ALL: &[Code] = &[$($constant),*];
    };
}

/// Every error code of the v1 API and the origin.
pub mod code {
    use super::{Code, ErrorKind};

    codes! {
        /// The body is empty or not JSON.
        MALFORMED_JSON = "malformed_json", BadRequest;
        /// The body is JSON of another shape (an unknown field, a wrong type).
        INVALID_REQUEST = "invalid_request", BadRequest;
        /// A collection name that is not 1 to 64 of `[A-Za-z0-9_-]`.
        INVALID_NAME = "invalid_name", BadRequest;
        /// An id (vector, memory record, session) that is empty, over 128 bytes, or holds control characters.
        INVALID_ID = "invalid_id", BadRequest;
        /// A path that is not valid percent-encoded UTF-8.
        INVALID_PATH = "invalid_path", BadRequest;
        /// An `x-zerodb-min-version` header that is not a version number.
        INVALID_MIN_VERSION = "invalid_min_version", BadRequest;
        /// A file key over 512 bytes, or with a segment that is empty, `.`, `..` or outside `[A-Za-z0-9._-]`.
        INVALID_FILE_KEY = "invalid_file_key", BadRequest;
        /// The request body could not be read to its end.
        BODY_UNREADABLE = "body_unreadable", BadRequest;
        /// An origin API call whose arguments do not match the function.
        INVALID_ORIGIN_REQUEST = "invalid_origin_request", BadRequest;
        /// No `X-API-Key` or `Authorization: Bearer` key.
        MISSING_API_KEY = "missing_api_key", Unauthorized;
        /// A key that does not exist or was revoked.
        INVALID_API_KEY = "invalid_api_key", Unauthorized;
        /// An origin API call without the shared secret.
        INVALID_ORIGIN_SECRET = "invalid_origin_secret", Unauthorized;
        /// No such route.
        NO_ROUTE = "no_route", NotFound;
        /// A ZeroDB route's `{project_id}` that is not the key's project (or not a UUID).
        PROJECT_NOT_FOUND = "project_not_found", NotFound;
        /// One of ZeroDB's routes that the edge does not serve (tables, events, files, ...).
        NOT_SERVED = "not_served", NotFound;
        /// An embedding model that is not loaded (the message names those that are).
        MODEL_NOT_LOADED = "model_not_loaded", BadRequest;
        /// A text search of a namespace whose vectors another model made.
        MODEL_MISMATCH = "model_mismatch", BadRequest;
        /// A search by text of a collection bound to no embedding model.
        NO_MODEL_BOUND = "no_model_bound", BadRequest;
        /// No such collection in the key's project.
        COLLECTION_NOT_FOUND = "collection_not_found", NotFound;
        /// No vector with that id in the collection.
        VECTOR_NOT_FOUND = "vector_not_found", NotFound;
        /// No memory record with that id in the project.
        MEMORY_NOT_FOUND = "memory_not_found", NotFound;
        /// No file with that key in the project.
        FILE_NOT_FOUND = "file_not_found", NotFound;
        /// No origin API function of that name.
        NO_ORIGIN_CALL = "no_origin_call", NotFound;
        /// The route exists, not with this method.
        METHOD_NOT_ALLOWED = "method_not_allowed", MethodNotAllowed;
        /// The collection exists with another spec.
        COLLECTION_EXISTS = "collection_exists", Conflict;
        /// A body over 32 MiB.
        BODY_TOO_LARGE = "body_too_large", TooLarge;
        /// A batch of more than 1000 records.
        BATCH_TOO_LARGE = "batch_too_large", TooLarge;
        /// More than 100 texts to embed in one request.
        TOO_MANY_TEXTS = "too_many_texts", TooLarge;
        /// A memory record's text over its limit (content: 256 KiB; a text to embed: 32 KiB).
        TEXT_TOO_LARGE = "text_too_large", TooLarge;
        /// Metadata over 64 KiB of JSON text.
        METADATA_TOO_LARGE = "metadata_too_large", TooLarge;
        /// A filter over 64 KiB of JSON text.
        FILTER_TOO_LARGE = "filter_too_large", TooLarge;
        /// A vector whose length is not the collection's (or the project's memory) dimension.
        DIMENSION_MISMATCH = "dimension_mismatch", Invalid;
        /// A vector that is empty or holds NaN, Infinity, a value past f32, or a norm the metric cannot score.
        INVALID_VECTOR = "invalid_vector", Invalid;
        /// A `k` outside 1..=1000.
        INVALID_K = "invalid_k", Invalid;
        /// A dimension outside 1..=16000.
        INVALID_DIMS = "invalid_dims", Invalid;
        /// An index asked for past 4000 dimensions.
        DIMS_EXCEED_INDEX_LIMIT = "dims_exceed_index_limit", Invalid;
        /// Metadata that is not a JSON object, holds NUL, or a number `jsonb` cannot store.
        INVALID_METADATA = "invalid_metadata", Invalid;
        /// A filter that is not a JSON object of the filter language (an unknown operator, an operand of the wrong type, nesting too deep), holds NUL, or a number `jsonb` cannot store.
        INVALID_FILTER = "invalid_filter", Invalid;
        /// A batch with no records.
        EMPTY_BATCH = "empty_batch", Invalid;
        /// A page `limit` outside 1..=1000.
        INVALID_LIMIT = "invalid_limit", Invalid;
        /// A `cache_similarity` outside (0, 1].
        INVALID_CACHE_SIMILARITY = "invalid_cache_similarity", Invalid;
        /// A text to embed that is empty or only whitespace.
        EMPTY_TEXT = "empty_text", Invalid;
        /// A list of metadata whose length is not the number of texts.
        METADATA_LIST_MISMATCH = "metadata_list_mismatch", Invalid;
        /// Memory text that holds NUL characters.
        INVALID_TEXT = "invalid_text", Invalid;
        /// The database is unreachable or its pool is exhausted.
        DATABASE_UNAVAILABLE = "database_unavailable", Unavailable;
        /// A query ran past its deadline.
        QUERY_TIMEOUT = "query_timeout", Unavailable;
        /// A concurrent change got in the way; retrying succeeds.
        WRITE_CONFLICT = "write_conflict", Unavailable;
        /// The request did not finish within its deadline.
        EDGE_TIMEOUT = "edge_timeout", Unavailable;
        /// The object store is down or not configured.
        FILES_UNAVAILABLE = "files_unavailable", Unavailable;
        /// Too many requests wait for the edge or the database.
        OVERLOADED = "overloaded", Unavailable;
        /// The collection has not reached the `min_version` asked for.
        VERSION_NOT_REACHED = "version_not_reached", Unavailable;
        /// The origin API could not be reached (the HTTP origin adapter).
        ORIGIN_UNREACHABLE = "origin_unreachable", Unavailable;
        /// An internal failure; the details go to the log.
        INTERNAL = "internal", Internal;
        /// The edge component trapped or misbehaved.
        EDGE_FAILURE = "edge_failure", Internal;
        /// The edge component's answer was over its size limit.
        RESPONSE_TOO_LARGE = "response_too_large", Internal;
        /// A stored collection row names a metric or index kind this build does not know.
        CORRUPT_COLLECTION = "corrupt_collection", Internal;
        /// An origin call named a session the instance does not hold.
        INVALID_SESSION = "invalid_session", Internal;
        /// An instance opened more sessions than its resource table holds.
        TOO_MANY_SESSIONS = "too_many_sessions", Internal;
        /// The HTTP origin adapter is misconfigured or got an answer it cannot read.
        ORIGIN_ADAPTER = "origin_adapter", Internal;
    }
}

/// An error as the client sees it: `{"error":{"code","message"}}` with a status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// The class, which gives the status.
    pub kind: ErrorKind,
    /// One of [`code`]'s texts; an origin of another build may send others.
    pub code: String,
    /// For people; says what was wrong and, where it helps, what is allowed.
    pub message: String,
    /// Seconds, sent as `Retry-After` (503 only).
    pub retry_after_secs: Option<u32>,
}

impl ApiError {
    /// An error of `code`'s kind.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            kind: code.kind,
            code: code.name.to_string(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// An error that tells the client to retry after `retry_after_secs` seconds.
    pub fn retry_after(code: Code, message: impl Into<String>, retry_after_secs: u32) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(code, message)
        }
    }

    /// Whether this is the error `code`.
    pub fn is(&self, code: Code) -> bool {
        self.code == code.name
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.kind.status(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of `enum error-code` in the WIT package, in order.
    fn wit_error_codes() -> Vec<String> {
        let wit = include_str!("../../../wit/zerodb-edge.wit");
        let body = wit
            .split("enum error-code {")
            .nth(1)
            .expect("the WIT package declares error-code");
        let body = body.split('}').next().unwrap_or_default();
        body.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("//"))
            .map(|line| line.trim_end_matches(',').to_string())
            .collect()
    }

    #[test]
    fn kinds_are_the_wit_error_codes_in_order() {
        let ours: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.wit_name()).collect();
        assert_eq!(ours, wit_error_codes());
    }

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut names: Vec<&str> = code::ALL.iter().map(|c| c.name).collect();
        assert!(names
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a code is declared twice");
    }

    /// The README's error table, one row per code: `| code | status | when |`.
    #[test]
    fn the_readme_documents_every_code_with_its_status() {
        let readme = include_str!("../../../README.md");
        let table: Vec<(String, u16)> = readme
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let status = cells.get(2)?.parse().ok()?;
                Some((code.to_string(), status))
            })
            .collect();
        let expected: Vec<(String, u16)> = code::ALL
            .iter()
            .map(|c| (c.name.to_string(), c.kind.status()))
            .collect();
        let rows: String = code::ALL
            .iter()
            .map(|c| format!("| `{}` | {} | ... |\n", c.name, c.kind.status()))
            .collect();
        assert_eq!(
            table, expected,
            "the README's error table should read, in this order:\n{rows}"
        );
    }
}
