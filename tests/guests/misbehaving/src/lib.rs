//! A guest that misbehaves on request, so that the tests can show the host
//! contains it: `/loop` computes for ever, `/hog` allocates until memory
//! runs out, `/trap` traps, `/sleep` takes a second, `/big` answers 2 MiB,
//! `/grow?mb=N` keeps N more MiB of memory for the instance's life,
//! `/count` answers how many requests this instance has served (so a test
//! can tell a fresh instance from a reused one); anything else answers 200
//! at once.

use spin_sdk::http::FullBody;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Requests this instance has served.
static SERVED: AtomicU64 = AtomicU64::new(0);
/// Memory kept by `/grow`.
static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> http::Response<FullBody<bytes::Bytes>> {
    let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
    match request.uri().path() {
        "/count" => return http::Response::new(FullBody::new(bytes::Bytes::from(format!("{{\"served\":{served}}}")))),
        "/grow" => {
            let mb: usize = request
                .uri()
                .query()
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
        "/big" => return http::Response::new(FullBody::new(bytes::Bytes::from(vec![b'x'; 2 << 20]))),
        _ => {}
    }
    http::Response::new(FullBody::new(bytes::Bytes::from_static(b"{\"ok\":true}")))
}
