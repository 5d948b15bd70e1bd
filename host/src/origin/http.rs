//! The `zerodb:edge/origin` interface over HTTP, for edge components running
//! in other Wasm hosts (`components/origin-http` is the client).
//!
//! One route per WIT function, `POST /origin/v1/<function>`, answered only
//! with the shared secret (`x-zerodb-origin-secret`). Session calls carry the
//! client's API key in `x-zerodb-api-key`, which each call opens a session
//! with, exactly as the native import's `session.open` does. The paths,
//! headers and function names are spelled once, in `edge_core::origin_api`,
//! for this server and its client. Arguments are a
//! JSON object of the function's parameters and the answer is its result,
//! both in the serde form of the WIT types (the same on both sides), answered
//! by the same [`OriginService`] the native import calls. Files
//! travel as raw bytes: `PUT`/`GET`/`DELETE /origin/v1/files/<key>`. A
//! failed call answers `{"error": <WIT error record>}` with the status its
//! code stands for.

use super::wit::zerodb::edge::origin as wit;
use super::{OriginService, Session};
use edge_core::error::{code, ApiError, Code};
use edge_core::origin_api::function as f;
use edge_core::origin_api::{FILES, HEALTH};
pub use edge_core::origin_api::{KEY_HEADER, PREFIX, SECRET_HEADER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest request body: an edge request's limit plus JSON's overhead.
pub const MAX_BODY_BYTES: usize = 4 * edge_core::validate::MAX_BODY_BYTES;

/// An origin call as the HTTP front received it.
pub struct Call<'a> {
    pub method: &'a str,
    /// The path after [`PREFIX`].
    pub op: &'a str,
    pub secret: Option<&'a str>,
    pub api_key: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: Vec<u8>,
}

/// What to answer: status, content type, body.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub retry_after: Option<u32>,
}

impl Reply {
    fn json(value: &impl Serialize) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json".into(),
            body: serde_json::to_vec(value).unwrap_or_default(),
            retry_after: None,
        }
    }

    fn error(err: ApiError) -> Reply {
        Reply {
            status: err.kind.status(),
            retry_after: err.retry_after_secs,
            ..Reply::json(&Failure { error: err.into() })
        }
    }

    fn result<T: Serialize>(result: Result<T, ApiError>) -> Reply {
        match result {
            Ok(value) => Reply::json(&value),
            Err(err) => Reply::error(err),
        }
    }
}

/// The body of a failed call.
#[derive(Serialize, Deserialize)]
pub struct Failure {
    pub error: wit::Error,
}

fn args<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            code::INVALID_ORIGIN_REQUEST,
            format!("the arguments do not match the call: {e}"),
        )
    })
}

/// The parameters of each session function, by name, in their WIT form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: Option<String>,
    spec: Option<wit::CollectionSpec>,
    collection: Option<String>,
    records: Option<Vec<wit::VectorRecord>>,
    id: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
    request: Option<wit::SearchRequest>,
    memory: Option<wit::NewMemory>,
    query: Option<wit::MemoryQuery>,
    page: Option<wit::MemoryList>,
    patch: Option<wit::MemoryPatch>,
    model: Option<String>,
    texts: Option<Vec<String>>,
}

fn need<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::new(code::INVALID_ORIGIN_REQUEST, format!("missing argument {name:?}")))
}

/// The origin API's server: checks the shared secret, opens the caller's
/// session, and answers each call from the [`OriginService`].
pub struct OriginApi {
    origin: OriginService,
    secret_hash: [u8; 32],
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn refused(code: Code, message: String) -> Reply {
    Reply::error(ApiError::new(code, message))
}

impl OriginApi {
    /// Serves `origin` to callers that present `secret`.
    pub fn new(origin: OriginService, secret: &str) -> OriginApi {
        OriginApi {
            origin,
            secret_hash: sha256(secret),
        }
    }

    /// Compares digests in constant time, so that timing says nothing about
    /// how much of a guess was right.
    fn secret_ok(&self, given: Option<&str>) -> bool {
        let Some(given) = given else { return false };
        let given = sha256(given);
        given
            .iter()
            .zip(&self.secret_hash)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Answers one call; every failure is a [`Failure`] with its status.
    pub async fn handle(&self, call: Call<'_>) -> Reply {
        if !self.secret_ok(call.secret) {
            return refused(
                code::INVALID_ORIGIN_SECRET,
                format!("origin calls need the shared secret in {SECRET_HEADER}"),
            );
        }
        if call.method == "GET" && call.op == HEALTH {
            return Reply::json(&self.origin.health());
        }
        let Some(key) = call.api_key else {
            return refused(
                code::MISSING_API_KEY,
                format!("session calls need the client's key in {KEY_HEADER}"),
            );
        };
        let session = match self.origin.open(key).await {
            Ok(session) => session,
            Err(err) => return Reply::error(err),
        };
        match call.op.strip_prefix(FILES) {
            Some(key) => files(&session, call.method, key, call.content_type, call.body).await,
            None if call.method == "POST" => match args::<Args>(&call.body) {
                Ok(args) => session_call(&session, call.op, args).await.unwrap_or_else(Reply::error),
                Err(err) => Reply::error(err),
            },
            None => Reply::error(not_allowed()),
        }
    }
}

fn not_allowed() -> ApiError {
    ApiError::new(
        code::METHOD_NOT_ALLOWED,
        "origin calls are POST; files are PUT, GET and DELETE; health is GET",
    )
}

async fn session_call(s: &Session, op: &str, a: Args) -> Result<Reply, ApiError> {
    use wit::*;
    Ok(match op {
        f::PROJECT => Reply::json(&s.project().uuid.to_string()),
        f::CREATE_COLLECTION => Reply::result(
            s.create_collection(&need(a.name, "name")?, need(a.spec, "spec")?.into())
                .await
                .map(CollectionInfo::from),
        ),
        f::DESCRIBE_COLLECTION => Reply::result(
            s.describe_collection(&need(a.name, "name")?)
                .await
                .map(CollectionInfo::from),
        ),
        f::LIST_COLLECTIONS => {
            let all = s.list_collections().await;
            Reply::result(all.map(|all| all.into_iter().map(CollectionInfo::from).collect::<Vec<_>>()))
        }
        f::COLLECTION_TOKEN => Reply::result(
            s.collection_token(&need(a.name, "name")?)
                .await
                .map(|t| t.map(Token::from)),
        ),
        f::DROP_COLLECTION => Reply::result(s.drop_collection(&need(a.name, "name")?).await),
        f::UPSERT => {
            let records = need(a.records, "records")?.into_iter().map(Into::into).collect();
            Reply::result(
                s.upsert(&need(a.collection, "collection")?, records)
                    .await
                    .map(WriteResult::from),
            )
        }
        f::GET => Reply::result(
            s.get(&need(a.collection, "collection")?, &need(a.id, "id")?)
                .await
                .map(VectorRecord::from),
        ),
        f::LIST_VECTORS => Reply::result(
            s.list_vectors(
                &need(a.collection, "collection")?,
                a.after.as_deref(),
                need(a.limit, "limit")?,
            )
            .await
            .map(VectorPage::from),
        ),
        f::DELETE => Reply::result(
            s.delete(&need(a.collection, "collection")?, &need(a.id, "id")?)
                .await
                .map(WriteResult::from),
        ),
        f::SEARCH => Reply::result(
            s.search(&need(a.collection, "collection")?, &need(a.request, "request")?.into())
                .await
                .map(SearchResult::from),
        ),
        f::PUT_MEMORY => Reply::result(
            s.put_memory(need(a.memory, "memory")?.into())
                .await
                .map(MemoryRecord::from),
        ),
        f::GET_MEMORY => Reply::result(s.get_memory(&need(a.id, "id")?).await.map(MemoryRecord::from)),
        f::UPDATE_MEMORY => Reply::result(
            s.update_memory(&need(a.id, "id")?, &need(a.patch, "patch")?.into())
                .await
                .map(MemoryRecord::from),
        ),
        f::DELETE_MEMORY => Reply::result(s.delete_memory(&need(a.id, "id")?).await),
        f::SEARCH_MEMORY => {
            let hits = s.search_memory(&need(a.query, "query")?.into()).await;
            Reply::result(hits.map(|hits| hits.into_iter().map(MemoryHit::from).collect::<Vec<_>>()))
        }
        f::LIST_MEMORY => Reply::result(s.list_memory(&need(a.page, "page")?.into()).await.map(MemoryPage::from)),
        f::EMBED => Reply::result(
            s.embed(a.model.as_deref(), need(a.texts, "texts")?)
                .await
                .map(Embeddings::from),
        ),
        f::EMBEDDING_MODELS => Reply::json(
            &s.embedding_models()
                .into_iter()
                .map(EmbeddingModel::from)
                .collect::<Vec<_>>(),
        ),
        other => refused(code::NO_ORIGIN_CALL, format!("no origin function named {other:?}")),
    })
}

async fn files(s: &Session, method: &str, key: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    match method {
        "PUT" => {
            let file = edge_core::model::File {
                content_type: content_type.unwrap_or("application/octet-stream").to_string(),
                body,
            };
            Reply::result(s.put_file(key, file).await.map(wit::FileInfo::from))
        }
        "GET" => match s.get_file(key).await {
            Ok(file) => Reply {
                status: 200,
                content_type: file.content_type,
                body: file.body,
                retry_after: None,
            },
            Err(err) => Reply::error(err),
        },
        "DELETE" => Reply::result(s.delete_file(key).await),
        _ => Reply::error(not_allowed()),
    }
}
