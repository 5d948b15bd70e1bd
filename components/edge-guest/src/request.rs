//! Reading a host's request into edge-core's [`Request`].

use edge_core::error::{code, ApiError};
use edge_core::validate::{self, MAX_BODY_BYTES};
use edge_core::Request;
use std::fmt::Display;

/// A request body being read; refused as soon as it passes
/// [`MAX_BODY_BYTES`], so the rest is never buffered.
pub struct Body(Vec<u8>);

impl Body {
    /// An empty body. Err (413 `body_too_large`) when `content_length`, the
    /// declared length in bytes, is already past the limit.
    pub fn new(content_length: Option<&str>) -> Result<Body, ApiError> {
        let declared = content_length.and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(validate::body_too_large());
        }
        Ok(Body(Vec::new()))
    }

    /// Appends a chunk. Err (413 `body_too_large`) when the body would pass
    /// the limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        if self.0.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(validate::body_too_large());
        }
        self.0.extend_from_slice(chunk);
        Ok(())
    }
}

/// The 400 `body_unreadable` error: the host could not deliver the body.
pub fn unreadable(what: impl Display) -> ApiError {
    ApiError::new(code::BODY_UNREADABLE, format!("request body: {what}"))
}

/// The core's request from the method, the path with its query (`/` when
/// none), a header lookup by lowercase name and the body read.
pub fn request(method: String, path: Option<String>, header: impl Fn(&str) -> Option<String>, body: Body) -> Request {
    Request {
        method,
        path: path.unwrap_or_else(|| "/".into()),
        authorization: header("authorization"),
        api_key: header("x-api-key"),
        content_type: header("content-type"),
        min_version: header(edge_core::MIN_VERSION_HEADER),
        body: body.0,
    }
}
