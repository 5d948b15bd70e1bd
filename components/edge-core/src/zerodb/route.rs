//! The routes of ZeroDB's dialect under its three project prefixes.

use super::error::{At, Result};
use crate::error::{code, ApiError};
use crate::openapi::RouteDoc;
use crate::validate;

/// The prefixes a project's routes are served under, as path segments
/// before `{project_id}`: `/api/v1/projects/` is ZeroDB's canonical form,
/// `/v1/projects/` the same without the gateway's `/api`, and
/// `/v1/public/` the alias its December 2025 documentation used.
pub const PREFIXES: [&[&str]; 3] = [&["api", "v1", "projects"], &["v1", "projects"], &["v1", "public"]];

/// Every route (its path after `/{prefix}/{project_id}/`), as the OpenAPI
/// document lists it.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc::new(
        "POST",
        "database/vectors/upsert",
        "Upsert one vector (creates its namespace)",
        &[],
        Some("ZeroDbVectorIn"),
    ),
    RouteDoc::new(
        "POST",
        "database/vectors/upsert-batch",
        "Upsert up to 1000 vectors: a bare array or {\"vectors\": [...]}",
        &[],
        None,
    ),
    RouteDoc::new(
        "POST",
        "database/vectors/search",
        "Cosine search of a namespace, or of every one",
        &[],
        Some("ZeroDbSearch"),
    ),
    RouteDoc::new(
        "GET",
        "database/vectors",
        "A namespace's vectors in id order (a bare array)",
        &["namespace", "offset", "limit", "detailed"],
        None,
    ),
    RouteDoc::new(
        "GET",
        "database/vectors/stats",
        "Vector counts, namespaces, dimensions and size",
        &["namespace"],
        None,
    ),
    RouteDoc::new(
        "GET",
        "database/vectors/{vector_id}",
        "One vector",
        &["namespace"],
        None,
    ),
    RouteDoc::new(
        "DELETE",
        "database/vectors/{vector_id}",
        "Delete one vector",
        &["namespace"],
        None,
    ),
    RouteDoc::new(
        "POST",
        "database/memory",
        "Store a memory record",
        &[],
        Some("ZeroDbMemoryIn"),
    ),
    RouteDoc::new(
        "GET",
        "database/memory",
        "Memory records, newest first, in a data envelope",
        &["skip", "limit", "session_id", "agent_id", "role"],
        None,
    ),
    RouteDoc::new(
        "POST",
        "database/memory/search",
        "Memory records nearest an embedding",
        &[],
        Some("ZeroDbMemorySearch"),
    ),
    RouteDoc::new("GET", "database/memory/{memory_id}", "One memory record", &[], None),
    RouteDoc::new(
        "PUT",
        "database/memory/{memory_id}",
        "Replace the fields given of a memory record",
        &[],
        Some("ZeroDbMemoryUpdate"),
    ),
    RouteDoc::new(
        "DELETE",
        "database/memory/{memory_id}",
        "Delete a memory record",
        &[],
        None,
    ),
    RouteDoc::new(
        "POST",
        "embeddings/generate",
        "Embed 1 to 100 texts",
        &[],
        Some("ZeroDbGenerate"),
    ),
    RouteDoc::new(
        "POST",
        "embeddings/embed-and-store",
        "Embed 1 to 100 texts and store them as vectors of a namespace",
        &[],
        Some("ZeroDbEmbedAndStore"),
    ),
    RouteDoc::new(
        "POST",
        "embeddings/search",
        "Search a namespace by text",
        &[],
        Some("ZeroDbTextSearch"),
    ),
    RouteDoc::new("GET", "embeddings/models", "The embedding models served", &[], None),
];

/// The prefixes of ZeroDB's agent memory (memory v2), which is scoped by
/// the key alone: `/api/v1/public/memory/v2/` and the same without `/api`.
pub const MEMORY_PREFIXES: [&[&str]; 2] = [
    &["api", "v1", "public", "memory", "v2"],
    &["v1", "public", "memory", "v2"],
];

/// The memory v2 routes (their path after a [`MEMORY_PREFIXES`] prefix).
pub const MEMORY_ROUTES: &[RouteDoc] = &[
    RouteDoc::new(
        "POST",
        "remember",
        "Store a memory (its content embedded)",
        &[],
        Some("ZeroDbRemember"),
    ),
    RouteDoc::new(
        "POST",
        "recall",
        "Memories nearest a text, by blended score",
        &[],
        Some("ZeroDbRecall"),
    ),
    RouteDoc::new("POST", "forget", "Delete a memory by id", &[], Some("ZeroDbForget")),
    RouteDoc::new("DELETE", "forget/{memory_id}", "Delete a memory by id", &[], None),
];

/// A route of the dialect, with its decoded path parameter.
#[derive(Debug, PartialEq)]
pub enum Route {
    /// `database/vectors/upsert`
    Upsert,
    /// `database/vectors/upsert-batch`
    UpsertBatch,
    /// `database/vectors/search`
    Search,
    /// `database/vectors` (list)
    Vectors,
    /// `database/vectors/stats`
    Stats,
    /// `database/vectors/{vector_id}`
    Vector(String),
    /// `database/memory` (create, list)
    Memory,
    /// `database/memory/search`
    MemorySearch,
    /// `database/memory/{memory_id}`
    MemoryItem(String),
    /// `embeddings/generate`
    Generate,
    /// `embeddings/embed-and-store`
    EmbedAndStore,
    /// `embeddings/search`
    TextSearch,
    /// `embeddings/models`
    Models,
    /// memory v2 `remember`
    Remember,
    /// memory v2 `recall`
    Recall,
    /// memory v2 `forget` (the id in the body)
    Forget,
    /// memory v2 `forget/{memory_id}`
    ForgetItem(String),
}

impl Route {
    /// The methods the route answers.
    pub fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::Upsert
            | Route::UpsertBatch
            | Route::Search
            | Route::MemorySearch
            | Route::Generate
            | Route::EmbedAndStore
            | Route::TextSearch
            | Route::Remember
            | Route::Recall
            | Route::Forget => &["POST"],
            Route::Vectors | Route::Stats | Route::Models => &["GET"],
            Route::ForgetItem(_) => &["DELETE"],
            Route::Vector(_) => &["GET", "DELETE"],
            Route::Memory => &["GET", "POST"],
            Route::MemoryItem(_) => &["GET", "PUT", "DELETE"],
        }
    }

    /// Whether it answers `method`.
    pub fn allows(&self, method: &str) -> bool {
        self.methods().contains(&method)
    }
}

/// A request's project id and route.
pub struct Parsed {
    /// The path's `{project_id}`, decoded (a UUID); none for memory v2,
    /// whose project is the key's.
    pub project: Option<String>,
    /// The route after it.
    pub route: Route,
}

/// The project id and the segments after it, when `path` is under one of
/// the [`PREFIXES`]; none otherwise.
pub fn split(path: &str) -> Option<(String, Vec<String>)> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    PREFIXES.iter().find_map(|prefix| {
        let rest = segments.strip_prefix(*prefix)?;
        let (project, rest) = rest.split_first()?;
        let rest = rest.iter().map(|s| s.to_string()).collect();
        Some((project.to_string(), rest))
    })
}

/// What ZeroDB serves and this edge does not: the route's first segments,
/// and what they are.
const NOT_SERVED: &[(&[&str], &str)] = &[
    (&["database", "tables"], "NoSQL tables"),
    (&["database", "events"], "events"),
    (&["database", "files"], "files"),
    (&["database", "vectors", "quantum-compress"], "quantum compression"),
    (&["database", "vectors", "analytics"], "vector analytics"),
    (&["database", "vectors", "cluster"], "vector clustering"),
    (&["database", "memory", "batch"], "memory batch operations"),
];

/// Parses a ZeroDB-dialect path. Errors: 404 `no_route` for a path that is
/// no route, 404 `not_served` (saying what) for one of ZeroDB's routes that
/// the edge does not serve, 404 `project_not_found` for a project id that
/// is not a UUID, 400 `invalid_path` for bad percent-encoding.
pub fn parse(path: &str) -> Result<Parsed> {
    let not_found = || ApiError::new(code::NO_ROUTE, "Not Found");
    if let Some(rest) = memory_split(path) {
        let rest = rest.iter().map(|s| decode(s)).collect::<Result<Vec<_>>>()?;
        let route = match rest.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["remember"] => Route::Remember,
            ["recall"] => Route::Recall,
            ["forget"] => Route::Forget,
            ["forget", id] => Route::ForgetItem(id.to_string()),
            _ => {
                return Err(ApiError::new(
                    code::NOT_SERVED,
                    "of ZeroDB's agent memory (memory v2), ZeroDB Edge serves remember, recall and \
                     forget; use ZeroDB itself for the rest",
                )
                .into())
            }
        };
        return Ok(Parsed { project: None, route });
    }
    if ["/api/v1/public/memory", "/v1/public/memory"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        return Err(ApiError::new(
            code::NOT_SERVED,
            "ZeroDB's user memory API (/v1/public/memory) is not served by ZeroDB Edge; its agent memory \
             (/v1/public/memory/v2) is",
        )
        .into());
    }
    let (project, rest) = split(path).ok_or_else(not_found)?;
    let project = decode(&project)?;
    let rest = rest.iter().map(|s| decode(s)).collect::<Result<Vec<_>>>()?;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    if let Some((_, what)) = NOT_SERVED.iter().find(|(prefix, _)| rest.starts_with(prefix)) {
        return Err(ApiError::new(
            code::NOT_SERVED,
            format!("{what} are not served by ZeroDB Edge; use ZeroDB itself for them"),
        )
        .into());
    }
    let route = match rest.as_slice() {
        ["database", "vectors", "upsert"] => Route::Upsert,
        ["database", "vectors", "upsert-batch"] => Route::UpsertBatch,
        ["database", "vectors", "search"] => Route::Search,
        ["database", "vectors"] => Route::Vectors,
        ["database", "vectors", "stats"] => Route::Stats,
        ["database", "vectors", id] => Route::Vector(id.to_string()),
        ["database", "memory"] => Route::Memory,
        ["database", "memory", "search"] => Route::MemorySearch,
        ["database", "memory", id] => Route::MemoryItem(id.to_string()),
        ["embeddings", "generate"] => Route::Generate,
        ["embeddings", "embed-and-store"] => Route::EmbedAndStore,
        ["embeddings", "search"] => Route::TextSearch,
        ["embeddings", "models"] => Route::Models,
        _ => return Err(not_found().into()),
    };
    if !is_uuid(&project) {
        return Err(ApiError::new(code::PROJECT_NOT_FOUND, "Project not found")).at(&["path", "project_id"]);
    }
    Ok(Parsed {
        project: Some(project),
        route,
    })
}

/// The segments after a [`MEMORY_PREFIXES`] prefix, when `path` has one.
fn memory_split(path: &str) -> Option<Vec<&str>> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    MEMORY_PREFIXES
        .iter()
        .find_map(|prefix| segments.strip_prefix(*prefix).map(<[&str]>::to_vec))
}

fn decode(segment: &str) -> Result<String> {
    validate::percent_decode(segment)
        .ok_or_else(|| ApiError::new(code::INVALID_PATH, "path is not valid percent-encoded UTF-8"))
        .at(&["path"])
}

/// Whether `text` is a UUID in its hyphenated form (any case).
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: &str = "0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e";

    #[test]
    fn every_prefix_reaches_every_route() {
        for prefix in PREFIXES {
            for route in ROUTES {
                let path = format!(
                    "/{}/{PID}/{}",
                    prefix.join("/"),
                    route.path.replace("{vector_id}", "v1").replace("{memory_id}", "m1")
                );
                let parsed = parse(&format!("{path}?namespace=x")).unwrap_or_else(|e| panic!("{path}: {e:?}"));
                assert_eq!(parsed.project.as_deref(), Some(PID));
            }
        }
        let parsed = parse(&format!("/v1/public/{PID}/database/vectors/a%2Fb")).unwrap();
        assert_eq!(parsed.route, Route::Vector("a/b".into()));
        assert_eq!(
            parse(&format!("/v1/public/{PID}/database/vectors/stats"))
                .unwrap()
                .route,
            Route::Stats
        );
    }

    #[test]
    fn refusals() {
        let status = |path: &str| parse(path).err().map(|f| (f.error.kind.status(), f.error.code));
        assert_eq!(
            status("/api/v1/projects/not-a-uuid/database/vectors"),
            Some((404, "project_not_found".into()))
        );
        assert_eq!(
            status(&format!("/api/v1/projects/{PID}/database/nothing")),
            Some((404, "no_route".into()))
        );
        let tables = parse(&format!("/api/v1/projects/{PID}/database/tables/t/rows"))
            .err()
            .unwrap();
        assert_eq!(tables.error.code, "not_served");
        assert!(tables.error.message.contains("tables"), "{}", tables.error.message);
        assert!(split("/v1/collections/x").is_none());
        assert_eq!(
            status("/api/v1/public/memory/v2/reflect"),
            Some((404, "not_served".into()))
        );
        assert_eq!(status("/v1/public/memory/"), Some((404, "not_served".into())));
        for prefix in MEMORY_PREFIXES {
            let recall = parse(&format!("/{}/recall", prefix.join("/"))).unwrap();
            assert!(recall.project.is_none() && recall.route == Route::Recall);
            let forget = parse(&format!("/{}/forget/m%201", prefix.join("/"))).unwrap();
            assert_eq!(forget.route, Route::ForgetItem("m 1".into()));
        }
        assert_eq!(
            status("/api/v1/public/projects/x/database/vectors"),
            Some((404, "no_route".into()))
        );
        assert!(is_uuid(&PID.to_uppercase()) && !is_uuid("0b8e4f53x8a4e-4c1d-9d3e-6f1a2b3c4d5e"));
    }
}
