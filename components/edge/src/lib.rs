//! The ZeroDB Edge HTTP component.
//!
//! Targets `wasm32-wasip2`; exports `wasi:http/handler@0.3.0` (spin-sdk 7) and
//! imports `zerodb:edge/origin@0.4.0` (world `zerodb:edge/edge` in `wit/`).
//! Everything but the wasi:http plumbing lives in `edge-core` and, shared
//! with `edge-p2`, in `edge-guest` (the origin import, and the core's state
//! where the hot-vector cache lives, kept for the life of the instance, so
//! a host that reuses instances keeps it warm).

use edge_core::error::ApiError;
use edge_core::Request;
use edge_guest::request::{self, Body};
use http_body_util::BodyExt;
use spin_sdk::http::{FullBody, IncomingMessage};

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> http::Response<FullBody<bytes::Bytes>> {
    let response = edge_guest::handle(read_request(request).await);
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(FullBody::new(response.body.into()))
        .unwrap_or_else(|_| http::Response::new(FullBody::new(bytes::Bytes::new())))
}

async fn read_request<B: IncomingMessage>(
    request: http::Request<spin_sdk::wasip3::http_compat::IncomingBody<B>>,
) -> Result<Request, ApiError> {
    let (parts, mut body) = request.into_parts();
    let header = |name: &str| {
        let value = parts.headers.get(name)?;
        Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let mut bytes = Body::new(header("content-length").as_deref())?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| request::unreadable(format!("{e:?}")))?;
        if let Ok(data) = frame.into_data() {
            bytes.push(&data)?;
        }
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_string());
    Ok(request::request(parts.method.as_str().to_string(), path, header, bytes))
}
