//! The host-independent core of the ZeroDB Edge front: HTTP routing of its
//! two dialects (the v1 API of the README's API section, and ZeroDB's own
//! API in [`zerodb`]), request parsing and validation, the JSON shapes of
//! answers and errors, and the seam where the hot-vector cache sits.
//!
//! It has no wasm dependency: the `edge` component wraps it in a wasi:http
//! handler and backs [`origin::Connect`] with the `zerodb:edge/origin` import;
//! unit tests back it with a fake.

#![deny(missing_docs)]

pub mod cache;
pub mod env;
pub mod error;
pub mod filter;
pub mod kernels;
pub mod model;
pub mod openapi;
pub mod origin;
pub mod origin_api;
pub mod validate;
mod wit;

pub mod zerodb;

mod api;
mod embed;
mod search;
mod wire;

use error::ApiError;
use origin::Connect;
use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

/// An HTTP request as the core needs it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The method's name, upper case (`GET`).
    pub method: String,
    /// Path and optional query, as received (`/v1/collections/docs?x=1`).
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `X-API-Key` header, if any (ZeroDB's clients send the key there).
    pub api_key: Option<String>,
    /// The `Content-Type` header, if any (kept for stored files).
    pub content_type: Option<String>,
    /// The `x-zerodb-min-version` header, if any: read at least this
    /// collection version.
    pub min_version: Option<String>,
    /// The whole body, at most [`validate::MAX_BODY_BYTES`].
    pub body: Vec<u8>,
}

/// An HTTP response; `body` is JSON but for a file's bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// (name, value) pairs, names lower case, in order sent.
    pub headers: Vec<(String, String)>,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &serde_json::Value) -> Response {
        Response::json_bytes(status, body.to_string().into_bytes())
    }

    /// A JSON answer already rendered.
    fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    fn bytes(status: u16, content_type: String, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), content_type)],
            body,
        }
    }

    /// The JSON error answer: `{"error":{"code","message"}}`, plus
    /// `Retry-After` when the error says when to retry.
    pub fn error(err: &ApiError) -> Response {
        let body = serde_json::json!({"error": {"code": err.code, "message": err.message}});
        let mut response = Response::json(err.kind.status(), &body);
        if let Some(secs) = err.retry_after_secs {
            response.headers.push(("retry-after".into(), secs.to_string()));
        }
        response
    }

    /// The first value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a response was served, sent as `x-zerodb-cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Answered from the edge's memory.
    Hit,
    /// The cache was asked and the origin answered.
    Miss,
    /// The cache was not consulted (writes, `strong` reads, rejected requests).
    Bypass,
    /// An expired entry served because the origin could not answer.
    Stale,
}

impl CacheStatus {
    /// The header value: `hit`, `miss`, `bypass` or `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
            CacheStatus::Stale => "stale",
        }
    }
}

/// The request header that asks a read for at least a collection version.
pub const MIN_VERSION_HEADER: &str = "x-zerodb-min-version";

/// The edge front's state, kept for the life of a component instance: the
/// hot-vector cache.
///
/// Requests may run concurrently on one thread (each waiting on the origin
/// in turn), so the cache is borrowed only between awaits, never across one.
pub struct Edge {
    pub(crate) cache: RefCell<cache::Cache>,
    /// A random id of this instance, sent as `x-zerodb-edge-instance` so that
    /// operators and tests can tell warm instances apart.
    instance: u64,
    /// The name of the origin's default embedding model, once asked: the
    /// embedding cache keys every text by the model that made it.
    pub(crate) default_model: RefCell<Option<String>>,
}

/// Per-request bookkeeping: how long the origin took and how the cache served.
pub(crate) struct Served {
    pub cache: CacheStatus,
    pub origin_time: Duration,
}

impl Served {
    /// Awaits one origin call, adding its duration to the request's origin time.
    pub async fn origin<T>(&mut self, call: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let out = call.await;
        self.origin_time += start.elapsed();
        out
    }
}

impl Edge {
    /// A front with an empty cache of the given settings.
    pub fn new(config: cache::CacheConfig) -> Self {
        use std::hash::BuildHasher;
        Edge {
            cache: RefCell::new(cache::Cache::new(config)),
            instance: std::collections::hash_map::RandomState::new().hash_one(0u8),
            default_model: RefCell::new(None),
        }
    }

    /// The cache's counters and size so far.
    pub fn cache_stats(&self) -> cache::CacheStats {
        self.cache.borrow().stats()
    }

    /// Answers one request. Never panics on any input: every failure is a
    /// JSON error response. Other requests may be handled while this one
    /// waits on the origin.
    pub async fn handle<C: Connect>(&self, connect: &C, request: &Request) -> Response {
        let start = Instant::now();
        let mut served = Served {
            cache: CacheStatus::Bypass,
            origin_time: Duration::ZERO,
        };
        let mut response = if zerodb::claims(&request.path) {
            zerodb::handle(self, connect, request, &mut served).await
        } else {
            match api::route(self, connect, request, &mut served).await {
                Ok(response) => response,
                Err(err) => Response::error(&err),
            }
        };
        let mut cache = self.cache.borrow_mut();
        let stats = &mut cache.stats;
        match served.cache {
            CacheStatus::Hit => stats.hits += 1,
            CacheStatus::Miss => stats.misses += 1,
            CacheStatus::Stale => stats.stale += 1,
            CacheStatus::Bypass => stats.bypasses += 1,
        }
        let edge_time = start.elapsed().saturating_sub(served.origin_time);
        response
            .headers
            .push(("x-zerodb-cache".into(), served.cache.as_str().into()));
        response
            .headers
            .push(("x-zerodb-edge-instance".into(), format!("{:016x}", self.instance)));
        response.headers.push((
            "server-timing".into(),
            format!(
                "edge;dur={:.3}, origin;dur={:.3}",
                edge_time.as_secs_f64() * 1e3,
                served.origin_time.as_secs_f64() * 1e3
            ),
        ));
        response
    }
}
