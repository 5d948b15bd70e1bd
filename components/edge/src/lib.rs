//! The ZeroDB Edge HTTP component that `zerodb-edge serve` runs.
//!
//! Targets `wasm32-wasip2`; world `zerodb:edge/edge-native` in `wit/`. It
//! imports `zerodb:edge/origin-async@0.8.0`: a request that waits on the
//! origin lets the instance serve others, so a few instances, each with one
//! cache, serve a shard's requests at once. It answers through two exports
//! with the same answers: `zerodb:edge/front`, one call per request, for
//! the requests its host has read whole (most of them: every request with
//! a small body), and `wasi:http/handler@0.3.0` (spin-sdk 7) for the
//! others, whose bodies stream in. Everything but this plumbing lives in
//! `edge-core` and `edge-guest` (the instance's `Edge`, whose hot-vector
//! cache is kept for the life of the instance).

#[allow(missing_docs, reason = "generated; wit/zerodb-edge.wit documents the interface")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "zerodb:edge/edge-native",
        // The imports' bindings are edge-guest's, which calls them.
        with: {
            "zerodb:edge/origin@0.8.0": edge_guest::wit,
            "zerodb:edge/origin-async@0.8.0": edge_guest::wit_async,
        },
    });
}

use bindings::exports::zerodb::edge::front;
use edge_guest::request::{self, Body};

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> edge_guest::http3::HttpResponse {
    let request = edge_guest::http3::read_request(request).await;
    edge_guest::http3::response(edge_guest::handle(request).await)
}

/// The `zerodb:edge/front` export.
struct Front;

impl front::Guest for Front {
    async fn handle(request: front::Request) -> front::Response {
        let front::Request {
            method,
            path_with_query,
            headers,
            body,
        } = request;
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        // The same limit as a streamed body's, checked the same way.
        let read = Body::new(header("content-length").as_deref()).and_then(|mut read| {
            read.push(&body)?;
            Ok(read)
        });
        let request = read.map(|body| request::request(method, Some(path_with_query), header, body));
        let response = edge_guest::handle(request).await;
        front::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }
    }
}

bindings::export!(Front with_types_in bindings);
