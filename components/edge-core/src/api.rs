//! Routing and the handlers of the v1 API.

use crate::model::*;
use crate::origin::{Connect, Origin};
use crate::validate::{self, MAX_BATCH, MAX_BODY_BYTES, MAX_CONTENT_BYTES};
use crate::wire;
use crate::{CacheStatus, Edge, Request, Response, Served};
use serde_json::json;

const DEFAULT_DIMS: i64 = 1536;
const DEFAULT_K: i64 = 10;
/// How long a client should wait when a backing service is missing.
const RETRY_AFTER_SECS: u32 = 5;

/// The routes of the v1 API, with their decoded path parameters.
#[derive(Debug, PartialEq)]
enum Route {
    Healthz,
    Collection(String),
    Vectors(String),
    Vector(String, String),
    Search(String),
    Memory,
    MemorySearch,
    MemoryItem(String),
    File(String),
}

impl Route {
    fn parse(path: &str) -> Result<Route, ApiError> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(|s| {
                validate::percent_decode(s).ok_or_else(|| {
                    ApiError::bad_request("invalid_path", "path is not valid percent-encoded UTF-8")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match segments.as_slice() {
            ["healthz"] => Route::Healthz,
            ["v1", "collections", name] => Route::Collection(name.to_string()),
            ["v1", "collections", name, "vectors"] => Route::Vectors(name.to_string()),
            ["v1", "collections", name, "vectors", id] => {
                Route::Vector(name.to_string(), id.to_string())
            }
            ["v1", "collections", name, "search"] => Route::Search(name.to_string()),
            ["v1", "memory"] => Route::Memory,
            ["v1", "memory", "search"] => Route::MemorySearch,
            ["v1", "memory", id] => Route::MemoryItem(id.to_string()),
            ["v1", "files", key @ ..] if !key.is_empty() => Route::File(key.join("/")),
            _ => {
                return Err(ApiError::not_found(
                    "no_route",
                    format!("no route for {path}"),
                ))
            }
        };
        Ok(route)
    }

    /// Methods each route answers, for the 405 message.
    fn allowed(&self) -> &'static str {
        match self {
            Route::Healthz => "GET",
            Route::Collection(_) | Route::Vector(..) | Route::File(_) => "GET, PUT, DELETE",
            Route::Vectors(_) => "PUT",
            Route::Search(_) | Route::Memory | Route::MemorySearch => "POST",
            Route::MemoryItem(_) => "GET, DELETE",
        }
    }
}

fn method_not_allowed(method: &str, route: &Route) -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        "method_not_allowed",
        format!("{method} is not allowed here; allowed: {}", route.allowed()),
    )
}

fn bearer_key(request: &Request) -> Result<&str, ApiError> {
    let header = request.authorization.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorKind::Unauthorized,
            "missing_api_key",
            "send Authorization: Bearer <api-key>",
        )
    })?;
    let (scheme, key) = header.trim().split_once(' ').unwrap_or((header, ""));
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(ApiError::new(
            ErrorKind::Unauthorized,
            "invalid_api_key",
            "the Authorization header must be `Bearer <api-key>`",
        ));
    }
    Ok(key)
}

fn ok(status: u16, body: serde_json::Value) -> Result<Response, ApiError> {
    Ok(Response::json(status, &body))
}

pub(crate) fn route<C: Connect>(
    _edge: &mut Edge,
    connect: &C,
    request: &Request,
    served: &mut Served,
) -> Result<Response, ApiError> {
    let route = Route::parse(&request.path)?;
    let method = request.method.as_str();
    if route == Route::Healthz {
        return match method {
            "GET" | "HEAD" => ok(200, json!({"status": "ok"})),
            _ => Err(method_not_allowed(method, &route)),
        };
    }
    // Reject a wrong method before asking the origin about the key.
    let allowed = route.allowed().split(", ").any(|m| m == method);
    if !allowed {
        return Err(method_not_allowed(method, &route));
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorKind::TooLarge,
            "body_too_large",
            format!("request body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    let key = bearer_key(request)?;
    let session = served.origin(|| connect.open(key))?;
    let body = &request.body[..];

    match (method, route) {
        ("PUT", Route::Collection(name)) => {
            validate::collection_name(&name)?;
            let spec = if body.iter().all(u8::is_ascii_whitespace) {
                wire::CreateCollection::default()
            } else {
                validate::json_body(body)?
            };
            let dims = spec.dims.unwrap_or(DEFAULT_DIMS);
            let dims = u32::try_from(dims).unwrap_or(0);
            validate::dims(dims)?;
            let spec = CollectionSpec {
                dims,
                metric: spec.metric.unwrap_or(Metric::Cosine),
                index: spec.index.unwrap_or(IndexKind::Hnsw),
            };
            let info = served.origin(|| session.create_collection(&name, spec))?;
            ok(200, wire::collection(&info))
        }
        ("GET", Route::Collection(name)) => {
            validate::collection_name(&name)?;
            let info = served.origin(|| session.describe_collection(&name))?;
            ok(200, wire::collection(&info))
        }
        ("DELETE", Route::Collection(name)) => {
            validate::collection_name(&name)?;
            served.origin(|| session.drop_collection(&name))?;
            ok(200, json!({"dropped": name}))
        }
        ("PUT", Route::Vectors(name)) => {
            validate::collection_name(&name)?;
            let upsert: wire::Upsert = validate::json_body(body)?;
            let records = batch(upsert.vectors)?;
            let result = served.origin(|| session.upsert(&name, records))?;
            ok(
                200,
                json!({"upserted": result.affected, "version": result.version}),
            )
        }
        ("GET", Route::Vector(name, id)) => {
            validate::collection_name(&name)?;
            validate::id("id", &id)?;
            served.cache = CacheStatus::Miss;
            let record = served.origin(|| session.get(&name, &id))?;
            ok(200, wire::vector(&record))
        }
        ("DELETE", Route::Vector(name, id)) => {
            validate::collection_name(&name)?;
            validate::id("id", &id)?;
            let result = served.origin(|| session.delete(&name, &id))?;
            if result.affected == 0 {
                return Err(ApiError::not_found(
                    "vector_not_found",
                    format!("no vector {id:?} in {name}"),
                ));
            }
            ok(
                200,
                json!({"deleted": result.affected, "version": result.version}),
            )
        }
        ("POST", Route::Search(name)) => {
            validate::collection_name(&name)?;
            let search: wire::Search = validate::json_body(body)?;
            let request = search_request(&search)?;
            served.cache = match search.consistency {
                wire::Consistency::Strong => CacheStatus::Bypass,
                wire::Consistency::Eventual => CacheStatus::Miss,
            };
            let result = served.origin(|| session.search(&name, &request))?;
            ok(200, wire::search(&result, "origin"))
        }
        ("POST", Route::Memory) => {
            let memory: wire::MemoryIn = validate::json_body(body)?;
            let memory = new_memory(memory)?;
            let record = served.origin(|| session.put_memory(memory))?;
            ok(201, wire::memory(&record, false))
        }
        ("POST", Route::MemorySearch) => {
            let search: wire::MemorySearch = validate::json_body(body)?;
            validate::vector(&search.embedding, None)?;
            if let Some(session_id) = &search.session_id {
                validate::id("session_id", session_id)?;
            }
            let query = MemoryQuery {
                k: checked_k(search.k)?,
                embedding: search.embedding,
                session_id: search.session_id,
                include_embedding: search.include_embedding,
            };
            served.cache = CacheStatus::Miss;
            let hits = served.origin(|| session.search_memory(&query))?;
            ok(200, wire::memory_hits(&hits, query.include_embedding))
        }
        ("GET", Route::MemoryItem(id)) => {
            validate::id("id", &id)?;
            served.cache = CacheStatus::Miss;
            let record = served.origin(|| session.get_memory(&id))?;
            ok(200, wire::memory(&record, true))
        }
        ("DELETE", Route::MemoryItem(id)) => {
            validate::id("id", &id)?;
            served.origin(|| session.delete_memory(&id))?;
            ok(200, json!({"deleted": id}))
        }
        (_, Route::File(_)) => Err(ApiError::unavailable(
            "files_unavailable",
            "file storage (MinIO) is not available at this edge",
            RETRY_AFTER_SECS,
        )),
        (method, route) => Err(method_not_allowed(method, &route)),
    }
}

fn checked_k(k: Option<i64>) -> Result<u32, ApiError> {
    let k = k.unwrap_or(DEFAULT_K);
    let k = u32::try_from(k).unwrap_or(0);
    validate::k(k)?;
    Ok(k)
}

/// Validates an upsert batch; a repeated id keeps its last occurrence.
fn batch(vectors: Vec<wire::VectorIn>) -> Result<Vec<VectorRecord>, ApiError> {
    if vectors.is_empty() {
        return Err(ApiError::invalid(
            "empty_batch",
            "vectors must hold at least one vector",
        ));
    }
    if vectors.len() > MAX_BATCH {
        return Err(ApiError::new(
            ErrorKind::TooLarge,
            "batch_too_large",
            format!(
                "{} vectors in one call; at most {MAX_BATCH} are allowed",
                vectors.len()
            ),
        ));
    }
    let dims = vectors[0].values.len() as u32;
    vectors
        .into_iter()
        .map(|v| {
            validate::id("id", &v.id)?;
            validate::vector(&v.values, Some(dims))?;
            let metadata = match &v.metadata {
                Some(m) => validate::metadata(m)?,
                None => "{}".to_string(),
            };
            Ok(VectorRecord {
                id: v.id,
                values: v.values,
                metadata,
            })
        })
        .collect()
}

fn search_request(search: &wire::Search) -> Result<SearchRequest, ApiError> {
    validate::vector(&search.vector, None)?;
    let filter = match &search.filter {
        Some(filter) => Some(validate::filter(filter)?),
        None => None,
    };
    Ok(SearchRequest {
        vector: search.vector.clone(),
        k: checked_k(search.k)?,
        filter,
        include_values: search.include_values,
        include_metadata: search.include_metadata.unwrap_or(true),
    })
}

fn new_memory(memory: wire::MemoryIn) -> Result<NewMemory, ApiError> {
    if let Some(id) = &memory.id {
        validate::id("id", id)?;
    }
    validate::id("session_id", &memory.session_id)?;
    validate::id("role", &memory.role)?;
    validate::text("content", &memory.content, MAX_CONTENT_BYTES)?;
    validate::vector(&memory.embedding, None)?;
    let metadata = match &memory.metadata {
        Some(m) => validate::metadata(m)?,
        None => "{}".to_string(),
    };
    Ok(NewMemory {
        id: memory.id,
        session_id: memory.session_id,
        role: memory.role,
        content: memory.content,
        embedding: memory.embedding,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::parse("/healthz").unwrap(), Route::Healthz);
        assert_eq!(
            Route::parse("/v1/collections/docs?x=1").unwrap(),
            Route::Collection("docs".into())
        );
        assert_eq!(
            Route::parse("/v1/collections/docs/vectors/a%2Fb").unwrap(),
            Route::Vector("docs".into(), "a/b".into())
        );
        assert_eq!(
            Route::parse("/v1/memory/search").unwrap(),
            Route::MemorySearch
        );
        assert_eq!(
            Route::parse("/v1/files/a/b.txt").unwrap(),
            Route::File("a/b.txt".into())
        );
        assert_eq!(Route::parse("/v2/x").unwrap_err().code, "no_route");
        assert_eq!(
            Route::parse("/v1/collections/%zz").unwrap_err().code,
            "invalid_path"
        );
    }
}
