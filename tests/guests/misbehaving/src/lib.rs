//! A guest that misbehaves on request, so that the tests can show the host
//! contains it: `/loop` computes for ever, `/hog` allocates until memory
//! runs out, `/trap` traps, `/sleep` takes a second, `/big` answers 2 MiB,
//! `/grow?mb=N` keeps N more MiB of memory for the instance's life,
//! `/count` answers how many requests this instance has served (so a test
//! can tell a fresh instance from a reused one); anything else answers 200
//! at once. It answers the same through both of the exports the host
//! calls: `zerodb:edge/front` (requests read whole) and
//! `wasi:http/handler` (requests whose bodies stream).

use spin_sdk::http::FullBody;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[allow(missing_docs, reason = "generated; wit/zerodb-edge.wit documents the interface")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "zerodb:edge/edge-native",
    });
}

use bindings::exports::zerodb::edge::front;

/// Requests this instance has served.
static SERVED: AtomicU64 = AtomicU64::new(0);
/// Memory kept by `/grow`.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The body of the answer (always 200) to the path `path` with the query
/// `query`, if it answers at all.
fn misbehave(path: &str, query: Option<&str>) -> Vec<u8> {
    let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
    match path {
        "/count" => return format!("{{\"served\":{served}}}").into_bytes(),
        "/grow" => {
            let mb: usize = query
                .and_then(|q| q.strip_prefix("mb="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            KEPT.lock().unwrap().push(std::hint::black_box(vec![1u8; mb << 20]));
        }
        "/loop" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "/hog" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1u8; 8 << 20]));
            }
        }
        "/trap" => panic!("a deliberate trap"),
        "/sleep" => std::thread::sleep(std::time::Duration::from_secs(1)),
        "/big" => return vec![b'x'; 2 << 20],
        _ => {}
    }
    b"{\"ok\":true}".to_vec()
}

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> http::Response<FullBody<bytes::Bytes>> {
    let body = misbehave(request.uri().path(), request.uri().query());
    http::Response::new(FullBody::new(bytes::Bytes::from(body)))
}

/// The `zerodb:edge/front` export.
struct Front;

impl front::Guest for Front {
    async fn handle(request: front::Request) -> front::Response {
        let (path, query) = match request.path_with_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (request.path_with_query.as_str(), None),
        };
        front::Response {
            status: 200,
            headers: Vec::new(),
            body: misbehave(path, query),
        }
    }
}

bindings::export!(Front with_types_in bindings);
