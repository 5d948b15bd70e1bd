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
//! both in the serde form of the WIT types (the same on both sides), served
//! by the very `HostSession` implementation the native host links. Files
//! travel as raw bytes: `PUT`/`GET`/`DELETE /origin/v1/files/<key>`. A
//! failed call answers `{"error": <WIT error record>}` with the status its
//! code stands for.

use crate::origin::{wit, Backends, HostSession, OriginCtx, Session};
use edge_core::origin_api::function as f;
use edge_core::origin_api::{FILES, HEALTH};
pub use edge_core::origin_api::{KEY_HEADER, PREFIX, SECRET_HEADER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::{Resource, ResourceTable};

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

    fn error(err: wit::Error) -> Reply {
        use wit::ErrorCode as C;
        let status = match err.code {
            C::BadRequest => 400,
            C::Unauthorized => 401,
            C::Forbidden => 403,
            C::NotFound => 404,
            C::Conflict => 409,
            C::TooLarge => 413,
            C::Invalid => 422,
            C::Unavailable => 503,
            C::Internal => 500,
        };
        Reply {
            status,
            retry_after: err.retry_after_secs,
            ..Reply::json(&Failure { error: err })
        }
    }

    fn result<T: Serialize>(result: Result<T, wit::Error>) -> Reply {
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

fn failure(code: wit::ErrorCode, reason: &str, message: String) -> wit::Error {
    wit::Error {
        code,
        reason: reason.into(),
        message,
        retry_after_secs: None,
    }
}

fn args<T: DeserializeOwned>(body: &[u8]) -> Result<T, wit::Error> {
    serde_json::from_slice(body).map_err(|e| {
        failure(
            wit::ErrorCode::BadRequest,
            "invalid_origin_request",
            format!("the arguments do not match the call: {e}"),
        )
    })
}

/// The parameters of each session function, by name.
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
}

fn need<T>(value: Option<T>, name: &str) -> Result<T, wit::Error> {
    value.ok_or_else(|| {
        failure(
            wit::ErrorCode::BadRequest,
            "invalid_origin_request",
            format!("missing argument {name:?}"),
        )
    })
}

pub struct OriginApi {
    backends: Backends,
    secret_hash: [u8; 32],
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl OriginApi {
    pub fn new(backends: Backends, secret: &str) -> OriginApi {
        OriginApi {
            backends,
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

    pub async fn handle(&self, call: Call<'_>) -> Reply {
        if !self.secret_ok(call.secret) {
            return Reply::error(failure(
                wit::ErrorCode::Unauthorized,
                "invalid_origin_secret",
                format!("origin calls need the shared secret in {SECRET_HEADER}"),
            ));
        }
        if call.method == "GET" && call.op == HEALTH {
            return Reply::json(&self.backends.health());
        }
        let mut ctx = OriginCtx {
            backends: self.backends.clone(),
            table: ResourceTable::new(),
        };
        let Some(key) = call.api_key else {
            return Reply::error(failure(
                wit::ErrorCode::Unauthorized,
                "missing_api_key",
                format!("session calls need the client's key in {KEY_HEADER}"),
            ));
        };
        let session = match ctx.open(key.to_string()).await {
            Ok(session) => session,
            Err(err) => return Reply::error(err),
        };
        match call.op.strip_prefix(FILES) {
            Some(key) => {
                files(
                    &mut ctx,
                    session,
                    call.method,
                    key.to_string(),
                    call.content_type,
                    call.body,
                )
                .await
            }
            None if call.method == "POST" => match args::<Args>(&call.body) {
                Ok(args) => session_call(&mut ctx, session, call.op, args).await,
                Err(err) => Reply::error(err),
            },
            None => Reply::error(not_allowed()),
        }
    }
}

fn not_allowed() -> wit::Error {
    failure(
        wit::ErrorCode::BadRequest,
        "method_not_allowed",
        "origin calls are POST; files are PUT, GET and DELETE; health is GET".into(),
    )
}

async fn session_call(ctx: &mut OriginCtx, session: Resource<Session>, op: &str, a: Args) -> Reply {
    let s = || Resource::<Session>::new_borrow(session.rep());
    let result = async {
        Ok(match op {
            f::PROJECT => Reply::json(&ctx.project(s()).await),
            f::CREATE_COLLECTION => Reply::result(
                ctx.create_collection(s(), need(a.name, "name")?, need(a.spec, "spec")?)
                    .await,
            ),
            f::DESCRIBE_COLLECTION => Reply::result(ctx.describe_collection(s(), need(a.name, "name")?).await),
            f::COLLECTION_TOKEN => Reply::result(ctx.collection_token(s(), need(a.name, "name")?).await),
            f::DROP_COLLECTION => Reply::result(ctx.drop_collection(s(), need(a.name, "name")?).await),
            f::UPSERT => Reply::result(
                ctx.upsert(s(), need(a.collection, "collection")?, need(a.records, "records")?)
                    .await,
            ),
            f::GET => Reply::result(ctx.get(s(), need(a.collection, "collection")?, need(a.id, "id")?).await),
            f::LIST_VECTORS => Reply::result(
                ctx.list_vectors(s(), need(a.collection, "collection")?, a.after, need(a.limit, "limit")?)
                    .await,
            ),
            f::DELETE => Reply::result(
                ctx.delete(s(), need(a.collection, "collection")?, need(a.id, "id")?)
                    .await,
            ),
            f::SEARCH => Reply::result(
                ctx.search(s(), need(a.collection, "collection")?, need(a.request, "request")?)
                    .await,
            ),
            f::PUT_MEMORY => Reply::result(ctx.put_memory(s(), need(a.memory, "memory")?).await),
            f::GET_MEMORY => Reply::result(ctx.get_memory(s(), need(a.id, "id")?).await),
            f::DELETE_MEMORY => Reply::result(ctx.delete_memory(s(), need(a.id, "id")?).await),
            f::SEARCH_MEMORY => Reply::result(ctx.search_memory(s(), need(a.query, "query")?).await),
            other => Reply::error(failure(
                wit::ErrorCode::NotFound,
                "no_origin_call",
                format!("no origin function named {other:?}"),
            )),
        })
    };
    result.await.unwrap_or_else(Reply::error)
}

async fn files(
    ctx: &mut OriginCtx,
    session: Resource<Session>,
    method: &str,
    key: String,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    match method {
        "PUT" => {
            let file = wit::File {
                content_type: content_type.unwrap_or("application/octet-stream").to_string(),
                body,
            };
            Reply::result(ctx.put_file(session, key, file).await)
        }
        "GET" => match ctx.get_file(session, key).await {
            Ok(file) => Reply {
                status: 200,
                content_type: file.content_type,
                body: file.body,
                retry_after: None,
            },
            Err(err) => Reply::error(err),
        },
        "DELETE" => Reply::result(ctx.delete_file(session, key).await),
        _ => Reply::error(not_allowed()),
    }
}
