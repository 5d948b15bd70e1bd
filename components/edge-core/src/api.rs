//! Routing and the handlers of the v1 API.

use crate::cache::{BodyKey, CollKey, Lookup};
use crate::error::{code, ApiError};
use crate::model::*;
#[cfg(test)]
use crate::openapi::RouteDoc;
use crate::origin::{Connect, Origin};
use crate::search::{self, Freshness};
use crate::validate::{self, MAX_BATCH, MAX_BODY_BYTES, MAX_CONTENT_BYTES};
use crate::wire;
use crate::{CacheStatus, Edge, Request, Response, Served};
use serde_json::json;

const DEFAULT_K: i64 = 10;

/// The routes of the v1 API, as the OpenAPI document lists them (the
/// document is generated from this table by a unit test).
#[cfg(test)]
pub(crate) const ROUTES: &[RouteDoc] = &[
    RouteDoc::new("GET", "/healthz", "Liveness: the edge answers", &[], None),
    RouteDoc::new(
        "GET",
        "/openapi.json",
        "This API's OpenAPI document (both dialects)",
        &[],
        None,
    ),
    RouteDoc::new(
        "GET",
        "/v1/health",
        "The edge's cache and the origin's services and routes",
        &[],
        None,
    ),
    RouteDoc::new(
        "PUT",
        "/v1/collections/{name}",
        "Create a collection (idempotent for the same spec)",
        &[],
        Some("V1CreateCollection"),
    ),
    RouteDoc::new("GET", "/v1/collections/{name}", "Describe a collection", &[], None),
    RouteDoc::new(
        "DELETE",
        "/v1/collections/{name}",
        "Drop a collection and its vectors",
        &[],
        None,
    ),
    RouteDoc::new(
        "PUT",
        "/v1/collections/{name}/vectors",
        "Upsert up to 1000 vectors",
        &[],
        Some("V1Upsert"),
    ),
    RouteDoc::new(
        "GET",
        "/v1/collections/{name}/vectors",
        "A page of vectors in id order",
        &["after", "limit"],
        None,
    ),
    RouteDoc::new("GET", "/v1/collections/{name}/vectors/{id}", "One vector", &[], None),
    RouteDoc::new(
        "DELETE",
        "/v1/collections/{name}/vectors/{id}",
        "Delete one vector",
        &[],
        None,
    ),
    RouteDoc::new(
        "POST",
        "/v1/collections/{name}/search",
        "Nearest neighbours, with an optional metadata filter",
        &[],
        Some("V1Search"),
    ),
    RouteDoc::new("POST", "/v1/memory", "Store a memory record", &[], Some("V1MemoryIn")),
    RouteDoc::new(
        "POST",
        "/v1/memory/search",
        "Memory records nearest an embedding",
        &[],
        Some("V1MemorySearch"),
    ),
    RouteDoc::new("GET", "/v1/memory/{id}", "One memory record", &[], None),
    RouteDoc::new("DELETE", "/v1/memory/{id}", "Delete one memory record", &[], None),
    RouteDoc::new("PUT", "/v1/files/{key}", "Store a file (the body's bytes)", &[], None),
    RouteDoc::new("GET", "/v1/files/{key}", "A stored file", &[], None),
    RouteDoc::new("DELETE", "/v1/files/{key}", "Delete a stored file", &[], None),
];

/// Whether the v1 router answers `method` on `path` (it routes it and the
/// route allows the method).
#[cfg(test)]
pub(crate) fn answers(method: &str, path: &str) -> bool {
    Route::parse(path).is_ok_and(|route| route.allowed().split(", ").any(|m| m == method))
}

/// The routes of the v1 API, with their decoded path parameters.
#[derive(Debug, PartialEq)]
enum Route {
    Healthz,
    OpenApi,
    Health,
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
                validate::percent_decode(s)
                    .ok_or_else(|| ApiError::new(code::INVALID_PATH, "path is not valid percent-encoded UTF-8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match segments.as_slice() {
            ["healthz"] => Route::Healthz,
            ["openapi.json"] => Route::OpenApi,
            ["v1", "health"] => Route::Health,
            ["v1", "collections", name] => Route::Collection(name.to_string()),
            ["v1", "collections", name, "vectors"] => Route::Vectors(name.to_string()),
            ["v1", "collections", name, "vectors", id] => Route::Vector(name.to_string(), id.to_string()),
            ["v1", "collections", name, "search"] => Route::Search(name.to_string()),
            ["v1", "memory"] => Route::Memory,
            ["v1", "memory", "search"] => Route::MemorySearch,
            ["v1", "memory", id] => Route::MemoryItem(id.to_string()),
            ["v1", "files", key @ ..] if !key.is_empty() => Route::File(key.join("/")),
            _ => return Err(ApiError::new(code::NO_ROUTE, format!("no route for {path}"))),
        };
        Ok(route)
    }

    /// Methods each route answers, for the 405 message.
    fn allowed(&self) -> &'static str {
        match self {
            Route::Healthz | Route::OpenApi | Route::Health => "GET",
            Route::Collection(_) | Route::File(_) => "GET, PUT, DELETE",
            Route::Vector(..) => "GET, DELETE",
            Route::Vectors(_) => "GET, PUT",
            Route::Search(_) | Route::Memory | Route::MemorySearch => "POST",
            Route::MemoryItem(_) => "GET, DELETE",
        }
    }
}

fn method_not_allowed(method: &str, route: &Route) -> ApiError {
    ApiError::new(
        code::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed here; allowed: {}", route.allowed()),
    )
}

/// The request's API key: `X-API-Key: <key>`, else `Authorization: Bearer
/// <key>`. Errors: 401 `missing_api_key` with neither, `invalid_api_key`
/// for an `Authorization` header of another form.
pub(crate) fn api_key(request: &Request) -> Result<&str, ApiError> {
    if let Some(key) = request.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(key);
    }
    let header = request.authorization.as_deref().ok_or_else(|| {
        ApiError::new(
            code::MISSING_API_KEY,
            "send X-API-Key: <api-key> or Authorization: Bearer <api-key>",
        )
    })?;
    let (scheme, key) = header.trim().split_once(' ').unwrap_or((header, ""));
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(ApiError::new(
            code::INVALID_API_KEY,
            "the Authorization header must be `Bearer <api-key>`",
        ));
    }
    Ok(key)
}

fn ok(status: u16, body: serde_json::Value) -> Result<Response, ApiError> {
    Ok(Response::json(status, &body))
}

pub(crate) async fn route<C: Connect>(
    edge: &Edge,
    connect: &C,
    request: &Request,
    served: &mut Served,
) -> Result<Response, ApiError> {
    let route = Route::parse(&request.path)?;
    let method = request.method.as_str();
    // The two routes that need no key.
    match (&route, method) {
        (Route::Healthz, "GET" | "HEAD") => return ok(200, json!({"status": "ok"})),
        (Route::OpenApi, "GET") => return Ok(Response::json_bytes(200, crate::openapi::DOCUMENT.as_bytes().to_vec())),
        (Route::Healthz | Route::OpenApi, _) => return Err(method_not_allowed(method, &route)),
        _ => {}
    }
    // Reject a wrong method before asking the origin about the key.
    let allowed = route.allowed().split(", ").any(|m| m == method);
    if !allowed {
        return Err(method_not_allowed(method, &route));
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(validate::body_too_large());
    }
    let key = api_key(request)?;
    let session = served.origin(connect.open(key)).await?;
    let project = served.origin(session.project()).await;
    let coll = |name: &str| CollKey {
        project: project.clone(),
        name: name.to_string(),
    };
    let cache = &edge.cache;
    let body = &request.body[..];

    match (method, route) {
        ("GET", Route::Health) => {
            let origin: serde_json::Value = serde_json::from_str(&served.origin(connect.health()).await)
                .unwrap_or_else(|_| json!({"status": "unknown"}));
            let mut health = json!({"edge": {"cache": edge.cache_stats(), "simd128": crate::kernels::SIMD}});
            if let (Some(health), serde_json::Value::Object(origin)) = (health.as_object_mut(), origin) {
                health.extend(origin);
            }
            ok(200, health)
        }
        ("PUT", Route::Collection(name)) => {
            validate::public_collection_name(&name)?;
            let spec = if body.iter().all(u8::is_ascii_whitespace) {
                wire::CreateCollection::default()
            } else {
                validate::json_body(body)?
            };
            // A model's collection has the model's dimension unless told.
            let model_dims = match &spec.model {
                Some(model) if spec.dims.is_none() => {
                    let models = served.origin(session.embedding_models()).await?;
                    models.iter().find(|m| m.name == *model).map(|m| i64::from(m.dims))
                }
                _ => None,
            };
            let dims = spec.dims.or(model_dims).unwrap_or(i64::from(validate::DEFAULT_DIMS));
            let dims = u32::try_from(dims).unwrap_or(0);
            validate::dims(dims)?;
            let spec = CollectionSpec {
                dims,
                metric: spec.metric.unwrap_or(Metric::Cosine),
                index: spec.index.unwrap_or(IndexKind::Hnsw),
                cache_similarity: spec.cache_similarity.unwrap_or(1.0),
                model: spec.model,
            };
            validate::cache_similarity(spec.cache_similarity)?;
            let info = served.origin(session.create_collection(&name, spec)).await?;
            cache.borrow_mut().forget_collection(&coll(&name));
            ok(200, wire::collection(&info))
        }
        ("GET", Route::Collection(name)) => {
            validate::public_collection_name(&name)?;
            // Always read at the origin: a description is small, and its
            // count and version must be current.
            let info = served.origin(session.describe_collection(&name)).await?;
            ok(200, wire::collection(&info))
        }
        ("DELETE", Route::Collection(name)) => {
            validate::public_collection_name(&name)?;
            served.origin(session.drop_collection(&name)).await?;
            cache.borrow_mut().forget_collection(&coll(&name));
            ok(200, json!({"dropped": name}))
        }
        ("PUT", Route::Vectors(name)) => {
            validate::public_collection_name(&name)?;
            let upsert: wire::Upsert = validate::json_body(body)?;
            let records = batch(upsert.vectors)?;
            let result = served.origin(session.upsert(&name, &records)).await?;
            cache.borrow_mut().apply_upsert(&coll(&name), records, &result);
            ok(200, json!({"upserted": result.affected, "version": result.version}))
        }
        ("GET", Route::Vectors(name)) => {
            validate::public_collection_name(&name)?;
            let after = query_param(&request.path, "after")?;
            let limit = match query_param(&request.path, "limit")? {
                Some(l) => l
                    .parse::<u32>()
                    .map_err(|_| ApiError::new(code::INVALID_LIMIT, "limit must be a number from 1 to 1000"))?,
                None => 100,
            };
            let page = served
                .origin(session.list_vectors(&name, after.as_deref(), limit))
                .await?;
            Ok(Response::json_bytes(200, wire::vector_page(&page)))
        }
        ("GET", Route::Vector(name, id)) => {
            validate::public_collection_name(&name)?;
            validate::id("id", &id)?;
            let min_version = validate::min_version(request.min_version.as_deref())?;
            let record = read_vector(edge, &session, &coll(&name), &id, min_version, served).await?;
            Ok(Response::json_bytes(200, wire::vector(&record)))
        }
        ("DELETE", Route::Vector(name, id)) => {
            validate::public_collection_name(&name)?;
            validate::id("id", &id)?;
            let result = served.origin(session.delete(&name, &id)).await?;
            if result.affected == 0 {
                return Err(ApiError::new(
                    code::VECTOR_NOT_FOUND,
                    format!("no vector {id:?} in {name}"),
                ));
            }
            cache
                .borrow_mut()
                .apply_write(&coll(&name), &[], &[id.as_str()], result.version);
            ok(200, json!({"deleted": result.affected, "version": result.version}))
        }
        ("POST", Route::Search(name)) => {
            validate::public_collection_name(&name)?;
            let c = coll(&name);
            let header_min = validate::min_version(request.min_version.as_deref())?;
            let freshness = Freshness::of(&session, cache, &c, header_min, served).await?;
            // The same bytes as a request answered before: no parsing needed.
            // (A `strong` request is never cached, so never replayed.)
            let body_key = BodyKey::of(body);
            if let Freshness::Current(now) = freshness {
                let replayed = cache.borrow_mut().search_by_body(&c, body_key, now);
                if let Some(result) = replayed {
                    served.cache = CacheStatus::Hit;
                    return Ok(Response::json_bytes(200, wire::search(&result, "edge")));
                }
            }
            let mut search: wire::Search = validate::json_body(body)?;
            // How the text's embedding was served, for a search by text.
            let mut embedded = None;
            if let Some(text) = search.text.take() {
                if !search.vector.is_empty() {
                    return Err(ApiError::new(code::INVALID_REQUEST, "give vector or text, not both"));
                }
                search.vector = text_vector(edge, &session, &c, freshness, &text, served).await?;
                embedded = Some(served.cache);
            }
            let request = search_request(&search)?;
            let min_version = header_min.max(search.min_version);
            let freshness = match search.consistency {
                wire::Consistency::Strong => Freshness::Bypass,
                wire::Consistency::Eventual => freshness.at_least(min_version),
            };
            // A body that names a min_version is never replayed by its bytes:
            // the entry it would find may have been stored by another body.
            let replay = search.min_version.is_none().then_some(body_key);
            let (result, source) = search::run(edge, &session, &c, &request, freshness, replay, served).await?;
            if let Some(embedded) = embedded {
                served.cache = crate::embed::worse(embedded, served.cache);
            }
            let result = search::at_least(result, min_version).inspect_err(|_| {
                // A stale answer refused for its version was not served.
                if served.cache == CacheStatus::Stale {
                    served.cache = CacheStatus::Miss;
                }
            })?;
            Ok(Response::json_bytes(200, wire::search(&result, source)))
        }
        ("POST", Route::Memory) => {
            let memory: wire::MemoryIn = validate::json_body(body)?;
            let memory = new_memory(memory)?;
            let record = served.origin(session.put_memory(memory)).await?;
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
                agent_id: None,
                role: None,
                include_embedding: search.include_embedding,
            };
            let hits = served.origin(session.search_memory(&query)).await?;
            ok(200, wire::memory_hits(&hits, query.include_embedding))
        }
        ("GET", Route::MemoryItem(id)) => {
            validate::id("id", &id)?;
            let record = served.origin(session.get_memory(&id)).await?;
            ok(200, wire::memory(&record, true))
        }
        ("DELETE", Route::MemoryItem(id)) => {
            validate::id("id", &id)?;
            served.origin(session.delete_memory(&id)).await?;
            ok(200, json!({"deleted": id}))
        }
        ("PUT", Route::File(key)) => {
            validate::file_key(&key)?;
            let file = File {
                content_type: request
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
                body: request.body.clone(),
            };
            let info = served.origin(session.put_file(&key, file)).await?;
            ok(200, json!({"key": info.key, "size": info.size, "etag": info.etag}))
        }
        ("GET", Route::File(key)) => {
            validate::file_key(&key)?;
            let file = served.origin(session.get_file(&key)).await?;
            Ok(Response::bytes(200, file.content_type, file.body))
        }
        ("DELETE", Route::File(key)) => {
            validate::file_key(&key)?;
            served.origin(session.delete_file(&key)).await?;
            ok(200, json!({"deleted": key}))
        }
        (method, route) => Err(method_not_allowed(method, &route)),
    }
}

/// The vector `id` of `c`: from the cache when it holds it at the current
/// token, else from the origin (then cached); a cached copy is served stale
/// only while the origin is unavailable.
pub(crate) async fn read_vector(
    edge: &Edge,
    session: &impl Origin,
    c: &CollKey,
    id: &str,
    min_version: Option<u64>,
    served: &mut Served,
) -> Result<VectorRecord, ApiError> {
    let cache = &edge.cache;
    let freshness = Freshness::of(session, cache, c, min_version, served).await?;
    // Not even as stale: without a token nothing proves `min_version`.
    let cached = match freshness {
        Freshness::Bypass => Lookup::Absent,
        Freshness::Unknown if min_version.is_some() => Lookup::Absent,
        _ => cache.borrow_mut().vector(c, id, freshness.now()),
    };
    Ok(match cached {
        Lookup::Fresh(record) => {
            served.cache = CacheStatus::Hit;
            record
        }
        cached => match served.origin(session.get(&c.name, id)).await {
            Ok(record) => {
                if let Freshness::Current(token) = freshness {
                    served.cache = CacheStatus::Miss;
                    cache.borrow_mut().put_vector(c, record.clone(), token);
                }
                record
            }
            Err(e) => search::stale_or(cached.any(), e, served)?,
        },
    })
}

/// The value of `name` in the request's query string, percent-decoded;
/// none when absent. Err 400 `invalid_path` when it is not valid
/// percent-encoded UTF-8.
pub(crate) fn query_param(path: &str, name: &str) -> Result<Option<String>, ApiError> {
    let Some((_, query)) = path.split_once('?') else {
        return Ok(None);
    };
    let Some((_, value)) = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
    else {
        return Ok(None);
    };
    validate::percent_decode(&value.replace('+', " "))
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                code::INVALID_PATH,
                format!("the query parameter {name} is not valid percent-encoded UTF-8"),
            )
        })
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
        return Err(ApiError::new(
            code::EMPTY_BATCH,
            "vectors must hold at least one vector",
        ));
    }
    if vectors.len() > MAX_BATCH {
        return Err(ApiError::new(
            code::BATCH_TOO_LARGE,
            format!("{} vectors in one call; at most {MAX_BATCH} are allowed", vectors.len()),
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
            Ok(VectorRecord::new(v.id, v.values, metadata))
        })
        .collect()
}

/// The vector of a search by `text` of `coll`: the text embedded by the
/// collection's model, through the edge's embedding cache. Errors: 400
/// `no_model_bound` when the collection names no model, and those of
/// [`validate::texts`] and the origin.
async fn text_vector<S: Origin>(
    edge: &Edge,
    session: &S,
    coll: &CollKey,
    freshness: Freshness,
    text: &str,
    served: &mut Served,
) -> Result<Vec<f32>, ApiError> {
    validate::texts("text", &[text.to_string()])?;
    let info = search::describe(&edge.cache, session, coll, freshness.now(), served).await?;
    let Some(model) = info.spec.model else {
        return Err(ApiError::new(
            code::NO_MODEL_BOUND,
            format!(
                "collection {:?} has no embedding model: search it by vector, or create one with \"model\"",
                coll.name
            ),
        ));
    };
    let (_, vector) = crate::embed::text(edge, session, &coll.project, Some(&model), text, served).await?;
    Ok(vector)
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
        agent_id: None,
        role: memory.role,
        content: memory.content,
        embedding: Some(memory.embedding),
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
        assert_eq!(Route::parse("/v1/memory/search").unwrap(), Route::MemorySearch);
        assert_eq!(
            Route::parse("/v1/files/a/b.txt").unwrap(),
            Route::File("a/b.txt".into())
        );
        assert_eq!(Route::parse("/v2/x").unwrap_err().code, "no_route");
        assert_eq!(Route::parse("/v1/collections/%zz").unwrap_err().code, "invalid_path");
    }
}
