//! What the ZeroDB Edge fronts share inside the component. The fronts
//! (`edge` and `edge-portable` for wasi:http 0.3, `edge-p2` for 0.2) differ
//! only in how they read a request from their host, write the response
//! back, and which form of the origin import they call:
//!
//! - `wit`: the bindings of world `zerodb:edge/edge-concurrent`, which
//!   holds both forms of the origin, with their conversions to and from
//!   edge-core types in `convert.rs`;
//! - [`origin`]: edge-core's origin trait over the blocking `origin`
//!   import ([`origin::BlockingConnect`]) and over `origin-async`
//!   ([`origin::AsyncConnect`]); a component imports only the form its
//!   front calls;
//! - [`request`]: the request body limit and the headers the core reads;
//! - [`http3`] (feature `http3`): reading and answering a wasi:http 0.3
//!   request through spin-sdk;
//! - [`handle`] and [`handle_blocking`]: the instance's [`Edge`], kept
//!   between requests.
//!
//! The bindings come from the same wit-bindgen as spin-sdk's, so a component
//! links one wit-bindgen runtime.

#![deny(missing_docs)]

mod convert;
#[cfg(feature = "http3")]
pub mod http3;
pub mod origin;
pub mod request;

use edge_core::cache::CacheConfig;
use edge_core::error::{code, ApiError};
use edge_core::{Edge, Request, Response};
use std::rc::Rc;

#[allow(missing_docs, reason = "generated; wit/zerodb-edge.wit documents the interface")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "zerodb:edge/edge-concurrent",
    });
}

/// The `zerodb:edge/origin` import's bindings; a front that generates
/// bindings of its own world maps the interface here (wit-bindgen's `with`).
pub use bindings::zerodb::edge::origin as wit;
/// The `zerodb:edge/origin-async` import's bindings, as [`wit`] is.
pub use bindings::zerodb::edge::origin_async as wit_async;

thread_local! {
    // For the life of the instance, so a host that reuses instances keeps
    // the hot-vector cache warm; shared by the requests it serves at once.
    static EDGE: Rc<Edge> = Rc::new(Edge::new(CacheConfig::from_env()));
}

/// Answers a request a front has read, or the error reading it gave, with
/// the instance's [`Edge`] over the `origin-async` import: while this
/// request waits on the origin, the instance serves others.
pub async fn handle(request: Result<Request, ApiError>) -> Response {
    match request {
        Ok(request) => EDGE.with(Rc::clone).handle(&origin::AsyncConnect, &request).await,
        Err(err) => Response::error(&err),
    }
}

/// Answers a request as [`handle`] does, over the blocking `origin`
/// import: the instance serves one request at a time.
pub fn handle_blocking(request: Result<Request, ApiError>) -> Response {
    let answer = match request {
        Ok(request) => edge_core::origin::complete(EDGE.with(Rc::clone).handle(&origin::BlockingConnect, &request)),
        Err(err) => Some(Response::error(&err)),
    };
    // Unreachable: every call of the blocking import has returned when its
    // future is first polled.
    answer.unwrap_or_else(|| {
        Response::error(&ApiError::new(
            code::INTERNAL,
            "a blocking origin call did not complete",
        ))
    })
}
