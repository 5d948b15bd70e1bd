//! The ZeroDB Edge HTTP component.
//!
//! Targets `wasm32-wasip2`; exports `wasi:http/handler@0.3.0` (spin-sdk 7) and
//! imports `zerodb:edge/origin@0.3.0` (world `zerodb:edge/edge` in `wit/`).
//! Everything but the wasi:http and WIT plumbing lives in `edge-core`; the
//! core's state, where the hot-vector cache lives, is kept for the life of
//! the instance, so a host that reuses instances keeps it warm.

mod origin;

use edge_core::error::{code, ApiError};
use edge_core::validate::{self, MAX_BODY_BYTES};
use edge_core::{Edge, Request, Response};
use http_body_util::BodyExt;
use spin_sdk::http::{FullBody, IncomingMessage};
use std::cell::RefCell;

spin_sdk::wit_bindgen::generate!({
    path: "../../wit",
    world: "zerodb:edge/edge",
    runtime_path: "spin_sdk::wit_bindgen::rt",
});

thread_local! {
    static EDGE: RefCell<Edge> = RefCell::new(Edge::new(edge_core::cache::CacheConfig::from_env()));
}

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> http::Response<FullBody<bytes::Bytes>> {
    let response = match read_request(request).await {
        Ok(request) => EDGE.with(|edge| edge.borrow_mut().handle(&origin::WitConnect, &request)),
        Err(err) => Response::error(&err),
    };
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(FullBody::new(response.body.into()))
        .unwrap_or_else(|_| http::Response::new(FullBody::new(bytes::Bytes::new())))
}

/// Reads the request, refusing a body past [`MAX_BODY_BYTES`] without
/// buffering the rest of it.
async fn read_request<B: IncomingMessage>(
    request: http::Request<spin_sdk::wasip3::http_compat::IncomingBody<B>>,
) -> Result<Request, ApiError> {
    let (parts, mut body) = request.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(validate::body_too_large());
    }
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::new(code::BODY_UNREADABLE, format!("request body: {e:?}")))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY_BYTES {
                return Err(validate::body_too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Request {
        method: parts.method.as_str().to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string(),
        authorization: parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        min_version: parts
            .headers
            .get(edge_core::MIN_VERSION_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body: bytes,
    })
}
