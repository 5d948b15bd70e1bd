//! ZeroDB's own API, the second dialect of the same core: the routes
//! ZeroDB's clients call (`/api/v1/projects/{project_id}/database/…`, also
//! under `/v1/projects/{project_id}/…` and `/v1/public/{project_id}/…`),
//! with ZeroDB's field names and error shapes, answered through the same
//! cache, coherence and origin as the v1 API.
//!
//! A namespace is a collection of the project with the namespace's name:
//! what a ZeroDB client writes to namespace `docs` is what a v1 client
//! reads from `/v1/collections/docs`, and the other way round. A namespace
//! is created (cosine, HNSW) by its first write, with that write's
//! dimension, one of [`DIMENSIONS`].

mod agent_memory;
mod embeddings;
mod error;
mod memory;
mod params;
mod route;
mod vectors;
pub(crate) mod wire;

pub use route::{Route, MEMORY_PREFIXES, MEMORY_ROUTES, PREFIXES, ROUTES};

use crate::cache::CollKey;
use crate::error::code;
use crate::origin::{Connect, Origin};
use crate::validate::MAX_BODY_BYTES;
use crate::{api, Edge, Request, Response, Served};
use error::{At, Failure, Result};
use route::Parsed;
use serde_json::json;

/// The dimensions ZeroDB stores (one column each in ZeroDB itself).
pub const DIMENSIONS: [usize; 4] = [384, 768, 1024, 1536];

/// The namespace of a request that names none.
const DEFAULT_NAMESPACE: &str = "default";

/// The collection that holds the project's agent memory (memory v2): each
/// memory a vector of its content. Its name is reserved (see
/// [`crate::validate::RESERVED_PREFIX`]): no public route reaches it.
pub const MEMORY_COLLECTION: &str = "_zerodb_memory_v2";

/// What every handler needs: the edge, the caller's session, its
/// project's UUID, the version a read must reach (`x-zerodb-min-version`),
/// and the request's bookkeeping.
struct Context<'a, S> {
    edge: &'a Edge,
    session: S,
    project: String,
    min_version: Option<u64>,
    served: &'a mut Served,
}

impl<S: Origin> Context<'_, S> {
    /// The cache's key of namespace `name`.
    fn coll(&self, name: &str) -> CollKey {
        CollKey {
            project: self.project.clone(),
            name: name.to_string(),
        }
    }
}

/// Whether `path` is ZeroDB's to answer: one of its project-scoped routes,
/// or any other path under `/api/` (ZeroDB's gateway prefix), which then
/// answers 404 in ZeroDB's shape.
pub fn claims(path: &str) -> bool {
    // Prefix tests only: every v1 request passes here first.
    ["/api/", "/v1/projects/", "/v1/public/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Whether ZeroDB's router answers `method` on `path` (it routes it and
/// the route allows the method).
pub fn answers(method: &str, path: &str) -> bool {
    route::parse(path).is_ok_and(|parsed| parsed.route.allows(method))
}

/// Answers a request on a ZeroDB route; every failure is answered in
/// ZeroDB's error shape.
pub(crate) async fn handle<C: Connect>(edge: &Edge, connect: &C, request: &Request, served: &mut Served) -> Response {
    match answer(edge, connect, request, served).await {
        Ok(response) => response,
        Err(failure) => error::render(&failure),
    }
}

async fn answer<C: Connect>(edge: &Edge, connect: &C, request: &Request, served: &mut Served) -> Result<Response> {
    let Parsed { project, route } = route::parse(&request.path)?;
    let method = request.method.as_str();
    if !route.allows(method) {
        let mut response = error::render(&Failure::from(crate::error::ApiError::new(
            code::METHOD_NOT_ALLOWED,
            format!("Method Not Allowed: {method} (allowed: {})", route.methods().join(", ")),
        )));
        response.headers.push(("allow".into(), route.methods().join(", ")));
        return Ok(response);
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(crate::validate::body_too_large().into());
    }
    let key = api::api_key(request)?;
    let session = served.origin(connect.open(key)).await?;
    let own = served.origin(session.project()).await;
    // Another project's id answers as if it did not exist.
    if project
        .as_ref()
        .is_some_and(|project| !own.eq_ignore_ascii_case(project))
    {
        return Err(crate::error::ApiError::new(
            code::PROJECT_NOT_FOUND,
            "Project not found",
        ))
        .at(&["path", "project_id"]);
    }
    let mut ctx = Context {
        edge,
        session,
        project: own,
        min_version: crate::validate::min_version(request.min_version.as_deref())?,
        served,
    };
    let query = params::Query(&request.path);
    let body = &request.body[..];
    match (method, route) {
        ("POST", Route::Upsert) => vectors::upsert(&mut ctx, body).await,
        ("POST", Route::UpsertBatch) => vectors::upsert_batch(&mut ctx, body).await,
        ("POST", Route::Search) => vectors::search(&mut ctx, body).await,
        ("GET", Route::Vectors) => vectors::list(&mut ctx, &query).await,
        ("GET", Route::Stats) => vectors::stats(&mut ctx, &query).await,
        ("GET", Route::Vector(id)) => vectors::get(&mut ctx, &id, &query).await,
        ("DELETE", Route::Vector(id)) => vectors::delete(&mut ctx, &id, &query).await,
        ("POST", Route::Memory) => memory::create(&mut ctx, body).await,
        ("GET", Route::Memory) => memory::list(&mut ctx, &query).await,
        ("POST", Route::MemorySearch) => memory::search(&mut ctx, body).await,
        ("GET", Route::MemoryItem(id)) => memory::get(&mut ctx, &id).await,
        ("PUT", Route::MemoryItem(id)) => memory::update(&mut ctx, &id, body).await,
        ("DELETE", Route::MemoryItem(id)) => memory::delete(&mut ctx, &id).await,
        ("POST", Route::Generate) => embeddings::generate(&mut ctx, body).await,
        ("POST", Route::EmbedAndStore) => embeddings::embed_and_store(&mut ctx, body).await,
        ("POST", Route::TextSearch) => embeddings::search(&mut ctx, body).await,
        ("GET", Route::Models) => embeddings::models(&mut ctx).await,
        ("POST", Route::Remember) => agent_memory::remember(&mut ctx, body).await,
        ("POST", Route::Recall) => agent_memory::recall(&mut ctx, body).await,
        ("POST", Route::Forget) => agent_memory::forget_by_body(&mut ctx, body).await,
        ("DELETE", Route::ForgetItem(id)) => agent_memory::forget(&mut ctx, &id).await,
        (method, route) => Err(crate::error::ApiError::new(
            code::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {route:?}"),
        )
        .into()),
    }
}

/// A 200 JSON answer.
fn ok(body: serde_json::Value) -> Result<Response> {
    Ok(Response::json(200, &body))
}

/// A 200 JSON answer written straight from `body` (no `Value` tree).
fn ok_typed(body: &impl serde::Serialize) -> Result<Response> {
    Ok(Response::json_bytes(200, serde_json::to_vec(body).unwrap_or_default()))
}

/// `{"success": true, …}` for a delete.
fn deleted(fields: serde_json::Value) -> Result<Response> {
    let mut body = json!({"success": true, "deleted": true});
    if let (Some(body), serde_json::Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    ok(body)
}
