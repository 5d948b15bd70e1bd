//! What both ZeroDB Edge fronts share inside the component: `edge` (wasi:http
//! 0.3, spin-sdk) and `edge-p2` (wasi:http 0.2) differ only in how they read
//! a request from their host and write the response back.
//!
//! - `wit`: the `zerodb:edge/origin` import (world `zerodb:edge/edge`),
//!   with its conversions to and from edge-core types in `convert.rs`;
//! - [`origin`]: edge-core's origin trait over that import, called
//!   synchronously;
//! - [`request`]: the request body limit and the headers the core reads;
//! - [`handle`]: the instance's [`Edge`], kept between requests.
//!
//! The bindings come from the same wit-bindgen as spin-sdk's, so a component
//! links one wit-bindgen runtime. A front that later lowers the import async
//! needs bindings generated with `async`; `edge_core::wit_conversions!`
//! gives them the same conversions in one line.

#![deny(missing_docs)]

mod convert;
pub mod origin;
pub mod request;

use edge_core::cache::CacheConfig;
use edge_core::error::ApiError;
use edge_core::{Edge, Request, Response};
use std::cell::RefCell;

#[allow(missing_docs, reason = "generated; wit/zerodb-edge.wit documents the interface")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "zerodb:edge/edge",
    });
}

pub(crate) use bindings::zerodb::edge::origin as wit;

thread_local! {
    // For the life of the instance, so a host that reuses instances keeps
    // the hot-vector cache warm.
    static EDGE: RefCell<Edge> = RefCell::new(Edge::new(CacheConfig::from_env()));
}

/// Answers a request a front has read, or the error reading it gave, with
/// the instance's [`Edge`] over the origin import.
pub fn handle(request: Result<Request, ApiError>) -> Response {
    match request {
        Ok(request) => EDGE.with(|edge| edge.borrow_mut().handle(&origin::WitConnect, &request)),
        Err(err) => Response::error(&err),
    }
}
