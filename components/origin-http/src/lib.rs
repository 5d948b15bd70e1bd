//! The origin adapter: exports `zerodb:edge/origin` (world
//! `zerodb:edge/origin-provider`) and implements every function as one
//! wasi:http 0.2 request to a `zerodb-edge` origin's `/origin/v1/` API.
//! Composed into the edge component (`scripts/compose`), it lets the edge run
//! in any wasi:http host: its only imports are wasi:http and wasi:cli.
//!
//! Settings come from the environment, which every host can set:
//! `ZERODB_ORIGIN_URL` (`http://host:port`) and `ZERODB_ORIGIN_SECRET`
//! (the names are in `edge_core::env`).
//! An origin that cannot be reached is an `unavailable` error, so the edge
//! serves stale entries and answers 503 with `Retry-After` as it does natively.
//!
//! Coherence: a collection's token is kept for a lease of
//! `ZERODB_VERSION_LEASE_MS` (default 1000 ms) and asked of the origin again
//! once that runs out, so a write through another edge or host is seen
//! within the lease. A write through this adapter ends the lease of its
//! collection at once.

#![deny(missing_docs)]

use bindings::exports::zerodb::edge::origin::{
    CollectionInfo, CollectionSpec, EmbeddingModel, Embeddings, Error, ErrorCode, File, FileInfo, Guest, GuestSession,
    MemoryHit, MemoryList, MemoryPage, MemoryPatch, MemoryQuery, MemoryRecord, NewMemory, SearchRequest, SearchResult,
    Session as SessionHandle, Token, VectorPage, VectorRecord, WriteResult,
};
use edge_core::env;
use edge_core::error::code;
use edge_core::origin_api::function as f;
use edge_core::origin_api::{FILES, HEALTH, KEY_HEADER, PREFIX, SECRET_HEADER};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

// Private, so its items are no public API to document: the WIT documents them.
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "zerodb:edge/origin-provider",
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

struct Adapter;

bindings::export!(Adapter with_types_in bindings);

/// Seconds an edge client is told to wait when the origin cannot be reached.
const RETRY_AFTER_SECS: u32 = 2;
/// Largest answer read from the origin.
const MAX_ANSWER_BYTES: usize = 256 << 20;

fn unavailable(message: String) -> Error {
    Error {
        code: ErrorCode::Unavailable,
        reason: code::ORIGIN_UNREACHABLE.name.into(),
        message,
        retry_after_secs: Some(RETRY_AFTER_SECS),
    }
}

fn internal(message: String) -> Error {
    Error {
        code: ErrorCode::Internal,
        reason: code::ORIGIN_ADAPTER.name.into(),
        message,
        retry_after_secs: None,
    }
}

/// Where the origin is, from the environment.
struct Origin {
    scheme: Scheme,
    authority: String,
    secret: String,
}

fn origin() -> Result<Origin, Error> {
    let required =
        |name: &str| std::env::var(name).map_err(|_| internal(format!("{name} is not set for the origin adapter")));
    let url = required(env::ORIGIN_URL)?;
    let secret = required(env::ORIGIN_SECRET)?;
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => {
            let name = env::ORIGIN_URL;
            return Err(internal(format!("{name} {url:?} is not an http(s) URL")));
        }
    };
    Ok(Origin {
        scheme,
        authority: rest.trim_end_matches('/').to_string(),
        secret,
    })
}

/// An origin answer: status, content type, body.
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// One request to the origin API.
fn send(method: Method, path: &str, api_key: Option<&str>, content_type: &str, body: &[u8]) -> Result<Answer, Error> {
    let origin = origin()?;
    let mut headers = vec![
        (SECRET_HEADER.to_string(), origin.secret.into_bytes()),
        ("content-type".to_string(), content_type.as_bytes().to_vec()),
    ];
    if let Some(key) = api_key {
        headers.push((KEY_HEADER.to_string(), key.as_bytes().to_vec()));
    }
    let headers = Fields::from_list(&headers).map_err(|e| internal(format!("request headers: {e:?}")))?;
    let request = OutgoingRequest::new(headers);
    let path = format!("{PREFIX}{path}");
    let set = request.set_method(&method).is_ok()
        && request.set_scheme(Some(&origin.scheme)).is_ok()
        && request.set_authority(Some(&origin.authority)).is_ok()
        && request.set_path_with_query(Some(&path)).is_ok();
    if !set {
        return Err(internal(format!("cannot address {}{path}", origin.authority)));
    }
    let outgoing = request
        .body()
        .map_err(|()| internal("request body taken twice".into()))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| unavailable(format!("origin request: {e:?}")))?;
    {
        let stream = outgoing
            .write()
            .map_err(|()| internal("request stream taken twice".into()))?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| unavailable(format!("sending to the origin: {e:?}")))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| unavailable(format!("finishing the request: {e:?}")))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(unavailable(format!("the origin did not answer: {e:?}"))),
        _ => return Err(unavailable("the origin request was lost".into())),
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let incoming = response
        .consume()
        .map_err(|()| internal("response body taken twice".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| internal("response stream taken twice".into()))?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(unavailable(format!("reading the origin's answer: {e:?}"))),
            }
            if bytes.len() > MAX_ANSWER_BYTES {
                return Err(internal("the origin's answer is too large".into()));
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(Answer {
        status,
        content_type,
        body: bytes,
    })
}

#[derive(Deserialize)]
struct Failure {
    error: Error,
}

/// Turns an answer into the call's result, or the origin's error.
fn decode<T: DeserializeOwned>(answer: Answer) -> Result<T, Error> {
    if (200..300).contains(&answer.status) {
        return serde_json::from_slice(&answer.body)
            .map_err(|e| internal(format!("the origin's answer does not parse: {e}")));
    }
    match serde_json::from_slice::<Failure>(&answer.body) {
        Ok(failure) => Err(failure.error),
        // Not the origin API (a proxy in between, say).
        Err(_) if answer.status >= 500 => Err(unavailable(format!("the origin answered {}", answer.status))),
        Err(_) => Err(internal(format!(
            "the origin answered {} without an error record",
            answer.status
        ))),
    }
}

fn call<T: DeserializeOwned>(function: &str, api_key: &str, args: Value) -> Result<T, Error> {
    let body = serde_json::to_vec(&args).map_err(|e| internal(e.to_string()))?;
    decode(send(Method::Post, function, Some(api_key), "application/json", &body)?)
}

/// How long a collection's token is trusted without asking the origin.
fn lease() -> Duration {
    Duration::from_millis(env::var(env::VERSION_LEASE_MS).unwrap_or(env::DEFAULT_VERSION_LEASE_MS))
}

/// A token the origin gave, and when it was asked.
type Lease = (Option<Token>, Instant);

thread_local! {
    /// Leased tokens by (project, collection), for the life of the instance.
    static LEASES: RefCell<HashMap<(String, String), Lease>> = RefCell::new(HashMap::new());
}

/// Most leases kept; past it the table starts over (they are cheap to renew).
const MAX_LEASES: usize = 10_000;

/// A session: the client's key, checked by the origin when opened.
pub struct Session {
    api_key: String,
    project: String,
}

impl Guest for Adapter {
    type Session = Session;

    fn health() -> String {
        match send(Method::Get, HEALTH, None, "application/json", b"") {
            Ok(answer) if answer.status == 200 => String::from_utf8_lossy(&answer.body).into_owned(),
            Ok(answer) => json!({"status": "unknown", "origin": {"status": answer.status}}).to_string(),
            Err(e) => json!({"status": "unknown", "origin": {"error": e.message}}).to_string(),
        }
    }
}

impl Session {
    fn call<T: DeserializeOwned>(&self, function: &str, args: Value) -> Result<T, Error> {
        call(function, &self.api_key, args)
    }

    /// A write to `collection`: its lease ends, whatever the outcome.
    fn write<T: DeserializeOwned>(&self, collection: &str, function: &str, args: Value) -> Result<T, Error> {
        let result = self.call(function, args);
        LEASES.with(|l| l.borrow_mut().remove(&(self.project.clone(), collection.to_string())));
        result
    }
}

impl GuestSession for Session {
    fn open(api_key: String) -> Result<SessionHandle, Error> {
        let project: String = call(f::PROJECT, &api_key, json!({}))?;
        Ok(SessionHandle::new(Session { api_key, project }))
    }

    fn project(&self) -> String {
        self.project.clone()
    }

    fn create_collection(&self, name: String, spec: CollectionSpec) -> Result<CollectionInfo, Error> {
        self.write(&name, f::CREATE_COLLECTION, json!({"name": name, "spec": spec}))
    }

    fn describe_collection(&self, name: String) -> Result<CollectionInfo, Error> {
        self.call(f::DESCRIBE_COLLECTION, json!({ "name": name }))
    }

    fn list_collections(&self) -> Result<Vec<CollectionInfo>, Error> {
        self.call(f::LIST_COLLECTIONS, json!({}))
    }

    fn collection_token(&self, name: String) -> Result<Option<Token>, Error> {
        let key = (self.project.clone(), name);
        let leased = LEASES.with(|l| l.borrow().get(&key).cloned());
        if let Some((token, at)) = leased {
            if at.elapsed() < lease() {
                return Ok(token);
            }
        }
        let asked = Instant::now();
        let token: Option<Token> = self.call(f::COLLECTION_TOKEN, json!({ "name": key.1 }))?;
        LEASES.with(|l| {
            let mut leases = l.borrow_mut();
            if leases.len() >= MAX_LEASES {
                leases.clear();
            }
            leases.insert(key, (token, asked));
        });
        Ok(token)
    }

    fn drop_collection(&self, name: String) -> Result<(), Error> {
        self.write(&name, f::DROP_COLLECTION, json!({ "name": name }))
    }

    fn upsert(&self, collection: String, records: Vec<VectorRecord>) -> Result<WriteResult, Error> {
        self.write(
            &collection,
            f::UPSERT,
            json!({"collection": collection, "records": records}),
        )
    }

    fn get(&self, collection: String, id: String) -> Result<VectorRecord, Error> {
        self.call(f::GET, json!({"collection": collection, "id": id}))
    }

    fn list_vectors(&self, collection: String, after: Option<String>, limit: u32) -> Result<VectorPage, Error> {
        self.call(
            f::LIST_VECTORS,
            json!({"collection": collection, "after": after, "limit": limit}),
        )
    }

    fn delete(&self, collection: String, id: String) -> Result<WriteResult, Error> {
        self.write(&collection, f::DELETE, json!({"collection": collection, "id": id}))
    }

    fn search(&self, collection: String, request: SearchRequest) -> Result<SearchResult, Error> {
        self.call(f::SEARCH, json!({"collection": collection, "request": request}))
    }

    fn put_memory(&self, memory: NewMemory) -> Result<MemoryRecord, Error> {
        self.call(f::PUT_MEMORY, json!({ "memory": memory }))
    }

    fn get_memory(&self, id: String) -> Result<MemoryRecord, Error> {
        self.call(f::GET_MEMORY, json!({ "id": id }))
    }

    fn update_memory(&self, id: String, patch: MemoryPatch) -> Result<MemoryRecord, Error> {
        self.call(f::UPDATE_MEMORY, json!({"id": id, "patch": patch}))
    }

    fn delete_memory(&self, id: String) -> Result<(), Error> {
        self.call(f::DELETE_MEMORY, json!({ "id": id }))
    }

    fn search_memory(&self, query: MemoryQuery) -> Result<Vec<MemoryHit>, Error> {
        self.call(f::SEARCH_MEMORY, json!({ "query": query }))
    }

    fn list_memory(&self, page: MemoryList) -> Result<MemoryPage, Error> {
        self.call(f::LIST_MEMORY, json!({ "page": page }))
    }

    fn embed(&self, model: Option<String>, texts: Vec<String>) -> Result<Embeddings, Error> {
        self.call(f::EMBED, json!({"model": model, "texts": texts}))
    }

    fn embedding_models(&self) -> Result<Vec<EmbeddingModel>, Error> {
        self.call(f::EMBEDDING_MODELS, json!({}))
    }

    fn put_file(&self, key: String, file: File) -> Result<FileInfo, Error> {
        let answer = send(
            Method::Put,
            &format!("{FILES}{key}"),
            Some(&self.api_key),
            &file.content_type,
            &file.body,
        )?;
        decode(answer)
    }

    fn get_file(&self, key: String) -> Result<File, Error> {
        let answer = send(Method::Get, &format!("{FILES}{key}"), Some(&self.api_key), "", b"")?;
        if answer.status != 200 {
            return decode(answer);
        }
        Ok(File {
            content_type: answer.content_type.unwrap_or_else(|| "application/octet-stream".into()),
            body: answer.body,
        })
    }

    fn delete_file(&self, key: String) -> Result<(), Error> {
        decode(send(
            Method::Delete,
            &format!("{FILES}{key}"),
            Some(&self.api_key),
            "",
            b"",
        )?)
    }
}
