//! A fake origin that answers like the real one, or fails the way the real
//! one fails when told to, and the check every fuzzed answer must pass:
//! shared by edge-core's property suite (`components/edge-core/tests/fuzz.rs`)
//! and the cargo-fuzz target (`fuzz/fuzz_targets/edge_request.rs`).
//! A broken rule panics with the request and the answer.

#![deny(missing_docs)]

use edge_core::error::{code, ApiError, ErrorKind};
use edge_core::model::*;
use edge_core::origin::{Connect, Origin};
use edge_core::{Edge, Request, Response};
use serde_json::Value as Json;
use std::cell::RefCell;
use std::rc::Rc;

/// How the fake origin fails, as the real one does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// The database is down: 503 `database_unavailable` with these seconds
    /// as `retry_after_secs`.
    Unavailable {
        /// The `Retry-After` the origin asks for, in seconds.
        retry_after_secs: u32,
    },
    /// What the call names does not exist: a collection (404
    /// `collection_not_found`, and no token), a memory record
    /// (`memory_not_found`) or a file (`file_not_found`). Creating calls
    /// succeed.
    Missing,
    /// An unexpected database error: 500 `internal`.
    Internal,
}

impl Fault {
    /// The error of a call this fault reaches; none for `Missing`, whose
    /// error depends on the call.
    fn error(self) -> Option<ApiError> {
        match self {
            Fault::Unavailable { retry_after_secs } => Some(ApiError::retry_after(
                code::DATABASE_UNAVAILABLE,
                "the database is unreachable; retry later",
                retry_after_secs,
            )),
            Fault::Internal => Some(ApiError::new(code::INTERNAL, "internal database error")),
            Fault::Missing => None,
        }
    }
}

/// The first `after` session calls of a request succeed; the next one
/// meets `fault`, and so does every later one unless the fault is
/// `transient` (a blip: the calls after it succeed again). Opening a
/// session never fails: a key the host resolved before an outage still
/// opens one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failure {
    /// How the failing calls fail.
    pub fault: Fault,
    /// Session calls that succeed first.
    pub after: u32,
    /// Whether only the one call fails.
    pub transient: bool,
}

#[derive(Default)]
struct Log {
    calls: u32,
    /// The calls that failed, with the error each returned.
    failed: Vec<(&'static str, ApiError)>,
}

/// The fake origin of one request (its connection and its session).
#[derive(Clone, Default)]
pub struct FakeOrigin {
    failure: Option<Failure>,
    log: Rc<RefCell<Log>>,
}

const TOKEN: Token = Token {
    incarnation: 1,
    version: 1,
};

fn collection(name: &str) -> CollectionInfo {
    CollectionInfo {
        name: name.into(),
        spec: CollectionSpec {
            dims: 3,
            metric: Metric::Cosine,
            index: IndexKind::Hnsw,
            cache_similarity: 1.0,
            model: None,
        },
        count: 2,
        version: 1,
    }
}

/// The one embedding model of the fake origin (3 dimensions).
pub const FAKE_MODEL: &str = "fake/bytes-3";

/// The project every session of the fake origin is on (a UUID, as the
/// real origin's `project` answers, so that ZeroDB's routes can name it).
pub const PROJECT: &str = "0b8e4f53-8a4e-4c1d-9d3e-6f1a2b3c4d5e";

fn record(id: &str) -> VectorRecord {
    VectorRecord::new(id, vec![1.0, 0.0, 0.0], "{}")
}

fn memory(id: &str) -> MemoryRecord {
    MemoryRecord {
        id: id.into(),
        session_id: "s".into(),
        agent_id: None,
        role: "user".into(),
        content: "c".into(),
        embedding: Some(vec![1.0, 0.0, 0.0]),
        metadata: "{}".into(),
        created_at_ms: 0,
    }
}

fn no_collection(name: &str) -> Option<ApiError> {
    Some(ApiError::new(
        code::COLLECTION_NOT_FOUND,
        format!("no collection named {name:?}"),
    ))
}

impl FakeOrigin {
    /// An origin that fails as `failure` says, or never.
    pub fn new(failure: Option<Failure>) -> Self {
        FakeOrigin {
            failure,
            log: Rc::default(),
        }
    }

    /// The calls that failed so far, with their errors.
    pub fn failed(&self) -> Vec<(&'static str, ApiError)> {
        self.log.borrow().failed.clone()
    }

    /// Counts a session call; the fault it meets, if any.
    fn fault(&self) -> Option<Fault> {
        let mut log = self.log.borrow_mut();
        log.calls += 1;
        self.failure
            .filter(|f| log.calls > f.after && (!f.transient || log.calls == f.after + 1))
            .map(|f| f.fault)
    }

    fn fail(&self, method: &'static str, err: ApiError) -> ApiError {
        self.log.borrow_mut().failed.push((method, err.clone()));
        err
    }

    /// One call: fails with the fault it meets, or with `missing` under
    /// [`Fault::Missing`] (none: the call succeeds).
    fn call(&self, method: &'static str, missing: Option<ApiError>) -> Result<(), ApiError> {
        match self.fault() {
            None => Ok(()),
            Some(fault) => match fault.error().or(missing) {
                Some(err) => Err(self.fail(method, err)),
                None => Ok(()),
            },
        }
    }
}

impl Connect for FakeOrigin {
    type Session = FakeOrigin;
    async fn open(&self, _api_key: &str) -> Result<FakeOrigin, ApiError> {
        Ok(self.clone())
    }
    async fn health(&self) -> String {
        r#"{"status":"ok"}"#.into()
    }
}

impl Origin for FakeOrigin {
    async fn project(&self) -> String {
        PROJECT.into()
    }
    async fn create_collection(&self, name: &str, _spec: CollectionSpec) -> Result<CollectionInfo, ApiError> {
        self.call("create_collection", None)?;
        Ok(collection(name))
    }
    async fn describe_collection(&self, name: &str) -> Result<CollectionInfo, ApiError> {
        self.call("describe_collection", no_collection(name))?;
        Ok(collection(name))
    }
    async fn list_collections(&self) -> Result<Vec<CollectionInfo>, ApiError> {
        self.call("list_collections", None)?;
        Ok(vec![collection("docs")])
    }
    async fn collection_token(&self, _name: &str) -> Result<Option<Token>, ApiError> {
        // The real origin answers "no token" for a collection that does not exist.
        match self.fault() {
            None => Ok(Some(TOKEN)),
            Some(Fault::Missing) => Ok(None),
            Some(fault) => Err(self.fail("collection_token", fault.error().unwrap())),
        }
    }
    async fn drop_collection(&self, name: &str) -> Result<(), ApiError> {
        self.call("drop_collection", no_collection(name))
    }
    async fn upsert(&self, collection: &str, records: &[VectorRecord]) -> Result<WriteResult, ApiError> {
        self.call("upsert", no_collection(collection))?;
        Ok(WriteResult {
            affected: records.len() as u64,
            version: 2,
            at_us: 1,
        })
    }
    async fn get(&self, collection: &str, id: &str) -> Result<VectorRecord, ApiError> {
        self.call("get", no_collection(collection))?;
        Ok(record(id))
    }
    async fn list_vectors(&self, collection: &str, _after: Option<&str>, _limit: u32) -> Result<VectorPage, ApiError> {
        self.call("list_vectors", no_collection(collection))?;
        Ok(VectorPage {
            records: vec![record("a"), record("b")],
            next: None,
            version: 1,
        })
    }
    async fn delete(&self, collection: &str, _id: &str) -> Result<WriteResult, ApiError> {
        self.call("delete", no_collection(collection))?;
        Ok(WriteResult {
            affected: 1,
            version: 2,
            at_us: 1,
        })
    }
    async fn search(&self, collection: &str, request: &SearchRequest) -> Result<SearchResult, ApiError> {
        self.call("search", no_collection(collection))?;
        let hit = SearchHit {
            id: "a".into(),
            score: 1.0,
            values: request.include_values.then(|| vec![1.0, 0.0, 0.0]),
            metadata: request.include_metadata.then(|| "{}".into()),
            document: None,
            source: None,
            written_at_us: None,
        };
        Ok(SearchResult {
            hits: vec![hit],
            version: 1,
        })
    }
    async fn put_memory(&self, m: NewMemory) -> Result<MemoryRecord, ApiError> {
        self.call("put_memory", None)?;
        Ok(memory(m.id.as_deref().unwrap_or("generated")))
    }
    async fn get_memory(&self, id: &str) -> Result<MemoryRecord, ApiError> {
        let missing = ApiError::new(code::MEMORY_NOT_FOUND, format!("no memory record {id:?}"));
        self.call("get_memory", Some(missing))?;
        Ok(memory(id))
    }
    async fn update_memory(&self, id: &str, _patch: &MemoryPatch) -> Result<MemoryRecord, ApiError> {
        let missing = ApiError::new(code::MEMORY_NOT_FOUND, format!("no memory record {id:?}"));
        self.call("update_memory", Some(missing))?;
        Ok(memory(id))
    }
    async fn delete_memory(&self, id: &str) -> Result<(), ApiError> {
        let missing = ApiError::new(code::MEMORY_NOT_FOUND, format!("no memory record {id:?}"));
        self.call("delete_memory", Some(missing))
    }
    async fn list_memory(&self, _page: &MemoryList) -> Result<MemoryPage, ApiError> {
        self.call("list_memory", None)?;
        Ok(MemoryPage {
            records: vec![memory("m")],
            total: 1,
        })
    }
    async fn search_memory(&self, _query: &MemoryQuery) -> Result<Vec<MemoryHit>, ApiError> {
        self.call("search_memory", None)?;
        Ok(vec![MemoryHit {
            memory: memory("m"),
            score: 1.0,
        }])
    }
    async fn embed(&self, model: Option<&str>, texts: &[String]) -> Result<Embeddings, ApiError> {
        self.call("embed", None)?;
        if model.is_some_and(|m| m != FAKE_MODEL) {
            return Err(ApiError::new(code::MODEL_NOT_LOADED, format!("loaded: {FAKE_MODEL}")));
        }
        // A stand-in for a model: each text's bytes folded into 3 values.
        let vectors = texts
            .iter()
            .map(|text| {
                let mut v = [1.0f32, 0.0, 0.0];
                for (i, b) in text.bytes().enumerate() {
                    v[i % 3] += f32::from(b) / 255.0;
                }
                v.to_vec()
            })
            .collect();
        Ok(Embeddings {
            model: FAKE_MODEL.into(),
            dims: 3,
            vectors,
        })
    }
    async fn embedding_models(&self) -> Result<Vec<EmbeddingModel>, ApiError> {
        self.call("embedding_models", None)?;
        Ok(vec![EmbeddingModel {
            name: FAKE_MODEL.into(),
            dims: 3,
            max_tokens: 128,
            pooling: "mean".into(),
            normalized: false,
            is_default: true,
        }])
    }
    async fn put_file(&self, key: &str, file: File) -> Result<FileInfo, ApiError> {
        self.call("put_file", None)?;
        Ok(FileInfo {
            key: key.into(),
            size: file.body.len() as u64,
            etag: None,
        })
    }
    async fn get_file(&self, key: &str) -> Result<File, ApiError> {
        self.call(
            "get_file",
            Some(ApiError::new(code::FILE_NOT_FOUND, format!("no file {key:?}"))),
        )?;
        Ok(File {
            content_type: "text/plain".into(),
            body: b"x".to_vec(),
        })
    }
    async fn delete_file(&self, _key: &str) -> Result<(), ApiError> {
        self.call("delete_file", None)
    }
}

/// The routes whose answers the check looks into.
#[derive(Debug, PartialEq)]
enum Route {
    Search,
    Vector(String),
    Vectors,
    Collection(String),
    MemorySearch,
    /// A route of ZeroDB's dialect: `read` for a search or a vector read
    /// (which may be served stale), `batch` for a batch upsert (which
    /// reports failed writes in its 200).
    ZeroDb {
        read: bool,
        batch: bool,
    },
    Other,
}

impl Route {
    fn of(request: &Request) -> Route {
        let path = request.path.split(['?', '#']).next().unwrap_or_default();
        // ZeroDB's dialect answers even a path that does not decode.
        if edge_core::zerodb::claims(path) {
            let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let read = match (request.method.as_str(), raw.as_slice()) {
                ("POST", [.., "database", "vectors", "search"]) => true,
                ("GET", [.., "database", "vectors", id]) => *id != "stats",
                _ => false,
            };
            let batch = raw.last() == Some(&"upsert-batch");
            return Route::ZeroDb { read, batch };
        }
        let Some(segments) = path
            .trim_start_matches('/')
            .split('/')
            .map(edge_core::validate::percent_decode)
            .collect::<Option<Vec<String>>>()
        else {
            return Route::Other;
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "collections", _, "search"]) => Route::Search,
            ("GET", ["v1", "collections", _, "vectors", id]) => Route::Vector(id.to_string()),
            (_, ["v1", "collections", _, "vectors"]) => Route::Vectors,
            ("GET" | "PUT", ["v1", "collections", name]) => Route::Collection(name.to_string()),
            ("POST", ["v1", "memory", "search"]) => Route::MemorySearch,
            _ => Route::Other,
        }
    }
}

/// What became of a request, for the property suite's coverage count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A 2xx from the origin or a fresh cache entry.
    Answered,
    /// A 200 served from the cache, marked stale, while the origin was down.
    Stale,
    /// The origin's error, passed on.
    OriginError,
    /// An error the edge made itself (a refused request).
    EdgeError,
    /// 503 `version_not_reached`: a `min_version` the answer did not reach.
    VersionNotReached,
}

/// Answers `request` with an origin that always succeeds and checks the answer.
pub fn check(edge: &Edge, request: &Request) -> Outcome {
    check_with(edge, request, None).0
}

/// Answers `request` with an origin failing as `failure` says and checks
/// the answer against the front's rules:
/// - every answer says how the cache served it; no score is NaN or infinite;
/// - every error is JSON `{"error":{"code","message"}}`; an error of the
///   origin reaches the client as it came (status of its kind, code,
///   `Retry-After` of its `retry_after_secs`); the edge's own errors are
///   4xx without `Retry-After`, but for 503 `version_not_reached`
///   (`Retry-After: 1`); every 503 says when to retry;
/// - `x-zerodb-cache: stale` only on a 200 to a search or a vector read,
///   only when the origin was unavailable (not missing, not failing
///   otherwise), only from a cache that held something, and for a vector
///   read with `x-zerodb-min-version` only under a current token;
/// - any other 2xx while the origin failed: only when the failed calls
///   were ones the edge does without: the token of a search or a vector
///   read while the origin is unavailable (the read goes on without it,
///   uncached), and a search's hot-copy load (`list_vectors`), which is
///   given up quietly;
/// - 2xx bodies have the shape of their route (see [`check_body`]).
///
/// Returns what became of the request, and the answer.
pub fn check_with(edge: &Edge, request: &Request, failure: Option<Failure>) -> (Outcome, Response) {
    let held = edge.cache_stats().entries;
    let origin = FakeOrigin::new(failure);
    let response = edge_core::origin::complete(edge.handle(&origin, request)).expect("the fake origin answers at once");
    let failed = origin.failed();
    let route = Route::of(request);
    let status = response.status;
    let what = format!(
        "{} {} (origin: {failure:?}; failed calls: {:?}) got {status} {:?}: {}",
        request.method,
        request.path,
        failed.iter().map(|(method, _)| *method).collect::<Vec<_>>(),
        response.headers,
        String::from_utf8_lossy(&response.body)
    );
    let cache = response
        .header("x-zerodb-cache")
        .unwrap_or_else(|| panic!("no x-zerodb-cache: {what}"));
    assert!(["hit", "miss", "bypass", "stale"].contains(&cache), "{what}");
    let body = serde_json::from_slice::<Json>(&response.body).ok();
    // No answer carries a score that is not a finite number (JSON has no
    // NaN or infinity: serde writes them as null).
    if let Some(body) = &body {
        for hit in body["hits"].as_array().into_iter().flatten() {
            assert!(
                hit["score"].as_f64().is_some_and(f64::is_finite),
                "a hit without a finite score: {what}"
            );
        }
    }
    let retry_after = response.header("retry-after");

    let outcome = if status >= 400 {
        let body = body.unwrap_or_else(|| panic!("errors are JSON: {what}"));
        let code = if let Route::ZeroDb { .. } = route {
            // ZeroDB's shape: `{detail, error_code}`, or a 422's `detail` list.
            match &body["detail"] {
                Json::String(_) => body["error_code"].as_str(),
                Json::Array(items) => {
                    assert_eq!(status, 422, "{what}");
                    assert!(
                        items.iter().all(|i| i["loc"].is_array() && i["msg"].is_string()),
                        "{what}"
                    );
                    items.first().and_then(|i| i["type"].as_str())
                }
                _ => None,
            }
        } else {
            assert!(body["error"]["message"].is_string(), "{what}");
            body["error"]["code"].as_str()
        };
        let code = code.unwrap_or_else(|| panic!("an error without its code: {what}"));
        assert_ne!(cache, "stale", "an error marked stale: {what}");
        if status == 503 {
            assert!(retry_after.is_some(), "a 503 without Retry-After: {what}");
        }
        if let Some((_, err)) = failed.iter().find(|(_, err)| err.code == code) {
            assert_eq!(status, err.kind.status(), "{what}");
            let secs = err.retry_after_secs.map(|s| s.to_string());
            assert_eq!(retry_after, secs.as_deref(), "{what}");
            Outcome::OriginError
        } else if code == "version_not_reached" {
            assert_eq!((status, retry_after), (503, Some("1")), "{what}");
            Outcome::VersionNotReached
        } else {
            assert!(status < 500, "a 5xx the origin did not send: {what}");
            assert_eq!(retry_after, None, "{what}");
            Outcome::EdgeError
        }
    } else {
        let outcome = if cache == "stale" {
            assert_eq!(status, 200, "{what}");
            assert!(
                failed.iter().any(|(_, err)| err.kind == ErrorKind::Unavailable),
                "stale while the origin was not unavailable: {what}"
            );
            assert!(held > 0, "stale from an empty cache: {what}");
            match route {
                Route::Search => {}
                // Without the current token nothing proves a min_version.
                Route::Vector(_) if request.min_version.is_some() => assert!(
                    failed.iter().all(|(method, _)| *method != "collection_token"),
                    "stale past a min_version without the current token: {what}"
                ),
                Route::Vector(_) | Route::ZeroDb { read: true, .. } => {}
                _ => panic!("stale on a route that is never served stale: {what}"),
            }
            Outcome::Stale
        } else {
            let reads = matches!(
                route,
                Route::Search | Route::Vector(_) | Route::ZeroDb { read: true, .. }
            );
            let zerodb = matches!(route, Route::ZeroDb { .. });
            for (method, err) in &failed {
                let done_without = match *method {
                    "collection_token" => reads && err.kind == ErrorKind::Unavailable,
                    "list_vectors" => route == Route::Search || zerodb,
                    // ZeroDB's dialect creates a missing namespace on a
                    // write, skips it in a search or list, and reports a
                    // batch's failed writes in its answer.
                    _ if zerodb => {
                        err.code == code::COLLECTION_NOT_FOUND.name
                            || route
                                == (Route::ZeroDb {
                                    read: false,
                                    batch: true,
                                })
                    }
                    _ => false,
                };
                assert!(done_without, "a 2xx although the origin's {method} failed: {what}");
            }
            Outcome::Answered
        };
        assert_eq!(retry_after, None, "{what}");
        check_body(request, &route, cache, &response, &what);
        outcome
    };
    (outcome, response)
}

/// The shape of a 2xx answer on the routes that read or write vectors.
fn check_body(request: &Request, route: &Route, cache: &str, response: &Response, what: &str) {
    if matches!(route, Route::Other | Route::ZeroDb { .. }) {
        return;
    }
    let body: Json = serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{e}: {what}"));
    let finite_numbers = |v: &Json| {
        v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)))
    };
    match route {
        Route::Search => {
            let hits = body["hits"].as_array().unwrap_or_else(|| panic!("no hits: {what}"));
            // The edge serves from its cache (hit or stale), or says it asked the origin.
            let source = if matches!(cache, "hit" | "stale") {
                "edge"
            } else {
                "origin"
            };
            assert_eq!(body["source"], source, "{what}");
            assert!(body["version"].is_u64(), "{what}");
            // What the request asked for (it parsed, or it would not be a 2xx).
            let asked: Json = serde_json::from_slice(&request.body).unwrap_or_else(|e| panic!("{e}: {what}"));
            // Never a version below the min_version asked for (body or header).
            let header = request.min_version.as_deref().and_then(|v| v.parse::<u64>().ok());
            if let Some(min) = asked["min_version"].as_u64().max(header) {
                assert!(
                    body["version"].as_u64().unwrap() >= min,
                    "below min_version {min}: {what}"
                );
            }
            let k = asked["k"].as_u64().unwrap_or(10);
            assert!(hits.len() as u64 <= k, "more than k = {k} hits: {what}");
            let values = asked["include_values"] == true;
            let metadata = asked["include_metadata"] != false;
            // The fake collection is cosine: best first is highest first.
            let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
            assert!(scores.windows(2).all(|w| w[0] >= w[1]), "not best first: {what}");
            for hit in hits {
                assert!(hit["id"].as_str().is_some_and(|id| !id.is_empty()), "{what}");
                assert_eq!(hit.get("values").is_some(), values, "{what}");
                if values {
                    assert!(finite_numbers(&hit["values"]), "{what}");
                }
                assert_eq!(hit["metadata"].is_object(), metadata, "{what}");
            }
        }
        Route::Vector(id) => {
            assert_eq!(body["id"], id.as_str(), "{what}");
            assert!(finite_numbers(&body["values"]), "{what}");
            assert!(body["metadata"].is_object(), "{what}");
        }
        Route::Vectors if request.method == "PUT" => {
            assert!(body["upserted"].as_u64().is_some_and(|n| n > 0), "{what}");
            assert!(body["version"].is_u64(), "{what}");
        }
        Route::Vectors => {
            assert!(body["vectors"].is_array(), "{what}");
            assert!(body["next"].is_null() || body["next"].is_string(), "{what}");
            assert!(body["version"].is_u64(), "{what}");
        }
        Route::Collection(name) => {
            assert_eq!(body["name"], name.as_str(), "{what}");
            assert!(body["dims"].as_u64().is_some_and(|d| d > 0), "{what}");
            assert!(
                ["cosine", "l2", "dot"].contains(&body["metric"].as_str().unwrap_or("")),
                "{what}"
            );
            assert!(body["count"].is_u64() && body["version"].is_u64(), "{what}");
        }
        Route::MemorySearch => {
            assert_eq!(body["source"], "origin", "{what}");
            for hit in body["hits"].as_array().unwrap_or_else(|| panic!("no hits: {what}")) {
                assert!(hit["id"].is_string() && hit["session_id"].is_string(), "{what}");
            }
        }
        Route::Other | Route::ZeroDb { .. } => {}
    }
}
