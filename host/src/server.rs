//! The HTTP/1.1 front: accepts connections, bounds request bodies, and hands
//! each request to a warm edge instance. Failures of the instance itself
//! (trap, deadline) become JSON errors here; everything else is answered by
//! the component.

use crate::health::Registry;
use crate::origin::http::{self as origin_http, OriginApi};
use crate::runtime::{declared_length, full_body, BodyUnreadable, Deadline, Overloaded, Shards};
use bytes::Bytes;
use edge_core::error::{code, ApiError};
use edge_core::validate::{self, MAX_BODY_BYTES};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use wasmtime_wasi_http::WasiBody;

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

fn json_response(err: &ApiError) -> hyper::Response<WasiBody> {
    let response = edge_core::Response::error(err);
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    let body = full_body(Bytes::from(response.body));
    builder.body(body).expect("static error response is valid")
}

/// What the HTTP front serves: the API through the edge component, the
/// host's metrics, and (when a secret is set) the origin API.
pub struct Front {
    pub shards: Shards,
    pub registry: Arc<Registry>,
    pub origin_api: Option<OriginApi>,
    /// Largest answer a guest may send.
    pub max_response_bytes: usize,
}

fn bytes_response(status: u16, content_type: &str, body: Vec<u8>) -> hyper::Response<WasiBody> {
    let body = full_body(Bytes::from(body));
    hyper::Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap_or_else(|_| hyper::Response::new(full_body(Bytes::new())))
}

async fn handle(front: Arc<Front>, request: hyper::Request<Incoming>) -> Result<hyper::Response<WasiBody>, Infallible> {
    let path = request.uri().path();
    // The host's own metrics, for the operator's scraper; the API is the component's.
    if path == "/metrics" && request.method() == hyper::Method::GET {
        let text = crate::metrics::render(&front.registry, &front.shards.load());
        return Ok(bytes_response(200, "text/plain; version=0.0.4", text.into_bytes()));
    }
    if path.starts_with(origin_http::PREFIX) {
        return Ok(origin_call(&front, request).await);
    }
    if let Some(len) = declared_length(request.headers()).filter(|&len| len > MAX_BODY_BYTES as u64) {
        // Read and discard a body up to twice the limit, so the client is
        // done sending and sees the 413 rather than a reset connection.
        if len <= 2 * MAX_BODY_BYTES as u64 {
            let mut body = request.into_body();
            while let Some(Ok(_)) = body.frame().await {}
        }
        return Ok(json_response(&validate::body_too_large()));
    }
    let request = request.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
    let deadline = Deadline::default();
    match front.shards.handle(deadline.clone(), request).await {
        Ok((response, in_flight)) => {
            let response = capped(response, front.max_response_bytes).await;
            drop(in_flight);
            Ok(response)
        }
        Err(e) if e.is::<Overloaded>() => Ok(json_response(&ApiError::retry_after(
            code::OVERLOADED,
            "every edge instance stayed busy; retry later",
            1,
        ))),
        Err(e) if e.is::<BodyUnreadable>() => Ok(json_response(&ApiError::new(code::BODY_UNREADABLE, e.to_string()))),
        Err(e) => {
            let timed_out =
                e.is::<wasmtime_wasi_http::handler::ExpirationError>() || deadline.0.load(Ordering::Relaxed);
            tracing::warn!(error = %e, timed_out, "edge instance failed a request");
            let err = if timed_out {
                ApiError::retry_after(code::EDGE_TIMEOUT, "the request did not finish in time", 1)
            } else {
                ApiError::new(code::EDGE_FAILURE, "the edge component failed on this request")
            };
            Ok(json_response(&err))
        }
    }
}

/// Holds a guest's answer to `max` bytes. The answer is read whole first
/// (the API's answers are JSON documents the guest builds in memory anyway),
/// so that one over the limit, or one the guest fails to finish, still gets
/// a JSON error rather than a cut-off connection.
async fn capped(response: hyper::Response<WasiBody>, max: usize) -> hyper::Response<WasiBody> {
    let (parts, body) = response.into_parts();
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(body) => {
            let body = full_body(body.to_bytes());
            hyper::Response::from_parts(parts, body)
        }
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            tracing::warn!(max, "the edge component's answer is over the response limit");
            json_response(&ApiError::new(
                code::RESPONSE_TOO_LARGE,
                format!("the answer is over the {max}-byte response limit"),
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, "the edge component's answer broke off");
            json_response(&ApiError::new(
                code::EDGE_FAILURE,
                "the edge component failed on this request",
            ))
        }
    }
}

/// One call of the origin API; 404 when it is not enabled.
async fn origin_call(front: &Front, request: hyper::Request<Incoming>) -> hyper::Response<WasiBody> {
    let Some(api) = &front.origin_api else {
        return json_response(&ApiError::new(code::NO_ROUTE, "the origin API is not enabled here"));
    };
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, origin_http::MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => return json_response(&validate::body_too_large()),
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let call = origin_http::Call {
        method: parts.method.as_str(),
        op: parts.uri.path().strip_prefix(origin_http::PREFIX).unwrap_or_default(),
        secret: header(origin_http::SECRET_HEADER),
        api_key: header(origin_http::KEY_HEADER),
        content_type: header(hyper::header::CONTENT_TYPE.as_str()),
        body,
    };
    let reply = api.handle(call).await;
    let mut response = bytes_response(reply.status, &reply.content_type, reply.body);
    if let Some(secs) = reply.retry_after {
        response.headers_mut().insert(hyper::header::RETRY_AFTER, secs.into());
    }
    response
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight
/// requests finish (up to a grace period).
pub async fn serve(listener: TcpListener, front: Front, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let front = Arc::new(front);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let front = front.clone();
        let conn = http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(stream), service_fn(move |req| handle(front.clone(), req)));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("shutting down; finishing in-flight requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within the grace period");
    }
    Ok(())
}
