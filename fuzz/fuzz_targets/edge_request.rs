//! libFuzzer over the edge front's request handling. The input is split at
//! NUL bytes into method, path, authorization and body (a missing part is
//! left out), so mutations reach every field. Any panic, a 5xx from the
//! front itself (the origin is a fake that always succeeds), or an error
//! that is not JSON `{"error":{"code","message"}}` is a finding.

#![no_main]

use edge_core::cache::CacheConfig;
use edge_core::{Edge, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0);
    let mut text = || parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let method = text().unwrap_or_default();
    let path = text().unwrap_or_else(|| "/".into());
    let authorization = text();
    let body = text().unwrap_or_default().into_bytes();
    let request = Request {
        method,
        path,
        authorization,
        body,
        ..Request::default()
    };
    fake_origin::check(&Edge::new(CacheConfig::default()), &request);
});
