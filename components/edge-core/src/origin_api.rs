//! The origin API: the `zerodb:edge/origin` interface carried over HTTP,
//! spelled once for its server (the host's `/origin/v1/`) and its client
//! (`components/origin-http`).
//!
//! A session function is `POST {PREFIX}{function}` with the shared secret in
//! [`SECRET_HEADER`] and the client's API key in [`KEY_HEADER`]; its body is
//! a JSON object of the function's parameters, its answer the function's
//! result, both in the serde form of the WIT types. `GET {PREFIX}{HEALTH}`
//! answers the registry; files travel as raw bytes under
//! `{PREFIX}{FILES}<key>` (`PUT`, `GET`, `DELETE`).

/// Where every origin route starts.
pub const PREFIX: &str = "/origin/v1/";
/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-zerodb-origin-secret";
/// The header carrying the client's API key, which opens the session.
pub const KEY_HEADER: &str = "x-zerodb-api-key";
/// The registry's route (after [`PREFIX`]).
pub const HEALTH: &str = "health";
/// The files' routes start with this (after [`PREFIX`]).
pub const FILES: &str = "files/";

/// The session functions' routes (after [`PREFIX`]): their WIT names.
pub mod function {
    /// `session.project`
    pub const PROJECT: &str = "project";
    /// `session.create-collection`
    pub const CREATE_COLLECTION: &str = "create-collection";
    /// `session.describe-collection`
    pub const DESCRIBE_COLLECTION: &str = "describe-collection";
    /// `session.list-collections`
    pub const LIST_COLLECTIONS: &str = "list-collections";
    /// `session.collection-token`
    pub const COLLECTION_TOKEN: &str = "collection-token";
    /// `session.drop-collection`
    pub const DROP_COLLECTION: &str = "drop-collection";
    /// `session.upsert`
    pub const UPSERT: &str = "upsert";
    /// `session.get`
    pub const GET: &str = "get";
    /// `session.list-vectors`
    pub const LIST_VECTORS: &str = "list-vectors";
    /// `session.delete`
    pub const DELETE: &str = "delete";
    /// `session.search`
    pub const SEARCH: &str = "search";
    /// `session.put-memory`
    pub const PUT_MEMORY: &str = "put-memory";
    /// `session.get-memory`
    pub const GET_MEMORY: &str = "get-memory";
    /// `session.update-memory`
    pub const UPDATE_MEMORY: &str = "update-memory";
    /// `session.delete-memory`
    pub const DELETE_MEMORY: &str = "delete-memory";
    /// `session.search-memory`
    pub const SEARCH_MEMORY: &str = "search-memory";
    /// `session.list-memory`
    pub const LIST_MEMORY: &str = "list-memory";
    /// `session.embed`
    pub const EMBED: &str = "embed";
    /// `session.embedding-models`
    pub const EMBEDDING_MODELS: &str = "embedding-models";
}
