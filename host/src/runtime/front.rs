//! The edge component's `zerodb:edge/front` export: a request read whole
//! goes into the guest as one record and its answer comes back as one,
//! with none of wasi:http's resources and body streams on the way. Requests
//! whose bodies stream (large or of undeclared length) take
//! `wasi:http/handler` instead; both give the same answers.

use super::full_body;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use wasmtime_wasi_http::handler::{Request, Response};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "zerodb:edge/edge-native",
    // The imports are bound once, in `origin::wit`.
    with: {
        "zerodb:edge/origin": crate::origin::wit::zerodb::edge::origin,
        "zerodb:edge/origin-async": crate::origin::wit::zerodb::edge::origin_async,
    },
    exports: { default: async | store },
});

pub use exports::zerodb::edge::front::{Request as WholeRequest, Response as WholeResponse};

/// A request as a shard hands it to an instance.
pub enum Incoming {
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
pub async fn read(request: Request) -> Result<Incoming, wasmtime_wasi_http::Error> {
    let empty = request.body().is_end_stream();
    if !empty && super::declared_length(request.headers()).is_none_or(|len| len > WHOLE_MAX_BYTES) {
        return Ok(Incoming::Streaming(request));
    }
    let (parts, body) = request.into_parts();
    // hyper ends a body at its declared length, so it needs no other limit.
    let body = body.collect().await?.to_bytes();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Incoming::Whole(WholeRequest {
        method: parts.method.as_str().to_owned(),
        path_with_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".into(), |p| p.as_str().to_owned()),
        headers,
        body: body.into(),
    }))
}

/// The guest's answer as the HTTP front sends it; Err when it names a
/// status or header HTTP cannot carry.
pub fn response(answer: WholeResponse) -> wasmtime::Result<Response> {
    let mut builder = http::Response::builder().status(answer.status);
    for (name, value) in answer.headers {
        builder = builder.header(name, value);
    }
    Ok(builder.body(full_body(answer.body.into()))?)
}
