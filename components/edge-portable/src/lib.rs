//! The ZeroDB Edge HTTP component for other wasi:http 0.3 hosts (`wasmtime
//! serve`, Spin ≥ 4.1), composed with the HTTP origin adapter into
//! `dist/edge.wasm`.
//!
//! Exports `wasi:http/handler@0.3.0` (spin-sdk 7) and imports the blocking
//! `zerodb:edge/origin@0.8.0` (world `zerodb:edge/edge`), which the adapter
//! (`components/origin-http`, itself wasi:http 0.2) exports: an instance
//! serves one request at a time, and the host runs several instances for
//! concurrency. The same core and plumbing as `components/edge`.

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> edge_guest::http3::HttpResponse {
    let request = edge_guest::http3::read_request(request).await;
    edge_guest::http3::response(edge_guest::handle_blocking(request))
}
