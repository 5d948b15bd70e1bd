//! The ZeroDB Edge HTTP component for hosts that run wasi:http 0.2 (such as
//! Spin 4.0.x, which refuses the final 0.3 that `components/edge` exports).
//!
//! Exports `wasi:http/incoming-handler@0.2` and imports
//! `zerodb:edge/origin`; everything else is `edge-core`, as in the 0.3
//! build, and the origin bindings are the same file. Whether its cache
//! survives between requests depends on the host reusing instances
//! (`wasmtime serve --max-instance-reuse-count`).

#[path = "../../edge/src/origin.rs"]
mod origin;

use edge_core::error::{code, ApiError};
use edge_core::validate::{self, MAX_BODY_BYTES};
use edge_core::{Edge, Request, Response};
use std::cell::RefCell;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::streams::StreamError;

wit_bindgen::generate!({
    path: "../../wit",
    world: "zerodb:edge/edge",
});

thread_local! {
    static EDGE: RefCell<Edge> = RefCell::new(Edge::new(edge_core::cache::CacheConfig::from_env()));
}

struct Front;

wasip2::http::proxy::export!(Front);

impl Guest for Front {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let response = match read_request(&request) {
            Ok(request) => EDGE.with(|edge| edge.borrow_mut().handle(&origin::WitConnect, &request)),
            Err(err) => Response::error(&err),
        };
        respond(out, response);
    }
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(name);
    values.first().map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Reads the request, refusing a body past [`MAX_BODY_BYTES`] without
/// buffering the rest of it.
fn read_request(request: &IncomingRequest) -> Result<Request, ApiError> {
    let declared = header(request, "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(validate::body_too_large());
    }
    let unreadable = |what: &str| ApiError::new(code::BODY_UNREADABLE, format!("request body: {what}"));
    let body = request.consume().map_err(|()| unreadable("taken twice"))?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| unreadable("no stream"))?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) if bytes.len() + chunk.len() > MAX_BODY_BYTES => return Err(validate::body_too_large()),
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(unreadable(&format!("{e:?}"))),
            }
        }
    }
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    };
    Ok(Request {
        method,
        path: request.path_with_query().unwrap_or_else(|| "/".into()),
        authorization: header(request, "authorization"),
        content_type: header(request, "content-type"),
        min_version: header(request, edge_core::MIN_VERSION_HEADER),
        body: bytes,
    })
}

fn respond(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone().into_bytes()))
        .collect();
    let Ok(headers) = Fields::from_list(&headers) else {
        return;
    };
    let outgoing = OutgoingResponse::new(headers);
    if outgoing.set_status_code(response.status).is_err() {
        return;
    }
    let Ok(body) = outgoing.body() else { return };
    ResponseOutparam::set(out, Ok(outgoing));
    if let Ok(stream) = body.write() {
        for chunk in response.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}
