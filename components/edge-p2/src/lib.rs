//! The ZeroDB Edge HTTP component for hosts that run wasi:http 0.2 (such as
//! Spin 4.0.x, which refuses the final 0.3 that `components/edge` exports).
//!
//! Exports `wasi:http/incoming-handler@0.2` and imports
//! `zerodb:edge/origin`; everything else is `edge-core` and `edge-guest`, as
//! in the 0.3 build. Whether its cache survives between requests depends on
//! the host reusing instances (`wasmtime serve --max-instance-reuse-count`).

use edge_core::error::ApiError;
use edge_core::{Request, Response};
use edge_guest::request::{self, Body};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::streams::StreamError;

struct Front;

wasip2::http::proxy::export!(Front);

impl Guest for Front {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        respond(out, edge_guest::handle_blocking(read_request(&request)));
    }
}

fn read_request(request: &IncomingRequest) -> Result<Request, ApiError> {
    let header = |name: &str| {
        let values = request.headers().get(name);
        values.first().map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let mut bytes = Body::new(header("content-length").as_deref())?;
    let body = request.consume().map_err(|()| request::unreadable("taken twice"))?;
    {
        let stream = body.stream().map_err(|()| request::unreadable("no stream"))?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => bytes.push(&chunk)?,
                Err(StreamError::Closed) => break,
                Err(e) => return Err(request::unreadable(format!("{e:?}"))),
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
    Ok(request::request(method, request.path_with_query(), header, bytes))
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
