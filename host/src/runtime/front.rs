//! The edge component's `zerodb:edge/front` export: a request read whole
//! goes into the guest as one record and its answer comes back as one,
//! with none of wasi:http's resources and body streams on the way. Requests
//! whose bodies stream (large or of undeclared length) take
//! `wasi:http/handler` instead; both give the same answers.

use super::full_body;
use crate::origin::wit::exports::zerodb::edge::front::Guest;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use std::future::Future;
use wasmtime::component::Accessor;
use wasmtime_wasi_http::handler::{ExpirationError, Request, Response};
use wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS;

/// A request read whole, and the guest's whole answer, as `front` carries them.
pub use crate::origin::wit::exports::zerodb::edge::front::{Request as WholeRequest, Response as WholeResponse};
/// Where `zerodb:edge/front` is in an instance of the component.
pub use crate::origin::wit::EdgeNativeIndices;

/// A request as a shard hands it to an instance.
pub enum Handoff {
    /// Read whole: served through `zerodb:edge/front`.
    Whole(WholeRequest),
    /// Its body still to stream: served through `wasi:http/handler`.
    Streaming(Request),
}

/// Largest request body read whole before its request reaches an instance.
/// A body the guest reads from the client itself keeps it running (not
/// waiting on the origin), so a client that sends its body slowly would
/// hold one of its instance's places; read here, it holds only one of the
/// shard's (so the shard buffers at most this many bytes per place).
pub const WHOLE_MAX_BYTES: u64 = 64 << 10;

/// `request` read whole when its body is empty or declares a length of at
/// most [`WHOLE_MAX_BYTES`]; a longer or undeclared body is left to stream.
/// Err when the client breaks off before the declared end.
pub async fn read(request: Request) -> Result<Handoff, wasmtime_wasi_http::Error> {
    let empty = request.body().is_end_stream();
    if !empty && super::declared_length(request.headers()).is_none_or(|len| len > WHOLE_MAX_BYTES) {
        return Ok(Handoff::Streaming(request));
    }
    let (parts, body) = request.into_parts();
    // hyper ends a body at its declared length, so it needs no other limit.
    let body = body.collect().await?.to_bytes();
    // What wasi:http keeps from its guests (hop-by-hop and proxy headers)
    // this export does not pass either.
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !DEFAULT_FORBIDDEN_HEADERS.contains(name))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Handoff::Whole(WholeRequest {
        method: parts.method.as_str().to_owned(),
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".into(), |p| p.as_str().to_owned()),
        headers,
        body: body.into(),
    }))
}

/// Calls `handle` for `request`, answering 503 when `expired` resolves
/// first; with whether the guest answered in time.
pub async fn call<T: Send + 'static>(
    front: &Guest,
    accessor: &Accessor<T>,
    request: WholeRequest,
    expired: impl Future<Output = ()>,
) -> (wasmtime::Result<Response>, bool) {
    tokio::select! {
        // An answer ready when the deadline passes is still sent.
        biased;
        answer = front.call_handle(accessor, request) => (answer.and_then(response), true),
        () = expired => (Err(ExpirationError.into()), false),
    }
}

/// The guest's answer as the HTTP front sends it, with the framing
/// (`content-length`, `transfer-encoding`) and hop-by-hop headers left to
/// hyper; Err when it names a status or header HTTP cannot carry.
fn response(answer: WholeResponse) -> wasmtime::Result<Response> {
    let mut builder = http::Response::builder().status(answer.status);
    for (name, value) in answer.headers {
        let name = http::HeaderName::try_from(name)?;
        if name != http::header::CONTENT_LENGTH && !DEFAULT_FORBIDDEN_HEADERS.contains(&name) {
            builder = builder.header(name, value);
        }
    }
    Ok(builder.body(full_body(answer.body.into()))?)
}
