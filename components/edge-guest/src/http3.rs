//! The wasi:http 0.3 plumbing of the two 0.3 fronts (spin-sdk 7): a
//! request into edge-core's [`Request`], a [`Response`] back out.

use crate::request::{self, Body};
use edge_core::error::ApiError;
use edge_core::{Request, Response};
use http_body_util::BodyExt;
use spin_sdk::http::{FullBody, IncomingMessage};

/// The response a 0.3 handler returns.
pub type HttpResponse = http::Response<FullBody<bytes::Bytes>>;

/// Reads a request whole; Err (413) as soon as the body passes the limit,
/// or (400) when the host cannot deliver it.
pub async fn read_request<B: IncomingMessage>(
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

/// The core's response as a 0.3 handler returns it.
pub fn response(response: Response) -> HttpResponse {
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(FullBody::new(response.body.into()))
        .unwrap_or_else(|_| http::Response::new(FullBody::new(bytes::Bytes::new())))
}
