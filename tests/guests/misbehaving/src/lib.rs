//! A guest that misbehaves on request, so that the tests can show the host
//! contains it: `/loop` computes for ever, `/hog` allocates until memory
//! runs out, `/trap` traps, `/sleep` takes a second, `/big` answers 2 MiB;
//! anything else answers 200 at once.

use spin_sdk::http::FullBody;

#[spin_sdk::http_service]
async fn handle(request: spin_sdk::http::Request) -> http::Response<FullBody<bytes::Bytes>> {
    match request.uri().path() {
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
