//! The ZeroDB Edge HTTP component that `zerodb-edge serve` runs.
//!
//! Targets `wasm32-wasip2`; exports `wasi:http/handler@0.3.0` (spin-sdk 7) and
//! imports `zerodb:edge/origin-async@0.7.0` (world
//! `zerodb:edge/edge-concurrent` in `wit/`): a request that waits on the
//! origin lets the instance serve others, so a few instances, each with
//! one cache, serve a shard's requests at once. Everything but the wasi:http plumbing
//! lives in `edge-core` and `edge-guest` (the instance's `Edge`, whose
//! hot-vector cache is kept for the life of the instance).

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> edge_guest::http3::HttpResponse {
    let request = edge_guest::http3::read_request(request).await;
    edge_guest::http3::response(edge_guest::handle(request).await)
}
