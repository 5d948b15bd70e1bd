//! Files round-trip through a real S3-compatible server (`s3s-fs`) behind a
//! peer that answers MinIO's health endpoints; with MinIO down, 503 with
//! `Retry-After`.

use crate::harness::{rng, Server, TestDb};
use crate::peers::{self, HealthPeer, Kind, Mode, S3_ACCESS_KEY, S3_SECRET_KEY};
use rand::RngCore;
use std::time::Duration;
use zerodb_test_support::health::{probe_env, wait_status};

#[test]
fn files_round_trip_and_fail_fast_when_minio_is_down() {
    let mut s3 = peers::s3s_fs("files");
    let peer = HealthPeer::start_forwarding(Kind::Minio, Some(s3.port));
    let db = TestDb::new("files");
    let (key, other) = (db.key("files"), db.key("someone-else"));
    let mut env = probe_env();
    env.push(("ZERODB_MINIO_URL", peer.url()));
    env.push(("ZERODB_MINIO_ACCESS_KEY", S3_ACCESS_KEY.into()));
    env.push(("ZERODB_MINIO_SECRET_KEY", S3_SECRET_KEY.into()));
    env.push(("ZERODB_MINIO_BUCKET", "files".into()));
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    wait_status(&server, &key, "minio", "healthy", Duration::from_secs(5));

    let mut body = vec![0u8; 300_000];
    rng(3).fill_bytes(&mut body);
    let path = "/v1/files/reports/2026/q1.bin";
    let type_pdf = [("content-type", "application/pdf")];
    let put = server.send_with("PUT", path, Some(&key), Some(body.clone()), &type_pdf);
    assert_eq!(put.status, 200, "{:?}", put.json);
    assert_eq!(put.json["size"], body.len());
    let got = server.send("GET", path, Some(&key), None);
    assert_eq!(got.status, 200);
    assert!(got.body == body, "the file came back different");
    assert_eq!(got.content_type.as_deref(), Some("application/pdf"));
    // Another project does not see it.
    assert_eq!(server.send("GET", path, Some(&other), None).status, 404);
    assert_eq!(server.send("DELETE", path, Some(&other), None).status, 404);
    // Keys that could escape the project's prefix are refused.
    let bad = server.send("PUT", "/v1/files/a/../b", Some(&key), Some(b"x".to_vec()));
    assert_eq!((bad.status, bad.error_code()), (400, "invalid_file_key"));

    assert_eq!(server.send("DELETE", path, Some(&key), None).status, 200);
    let gone = server.send("GET", path, Some(&key), None);
    assert_eq!((gone.status, gone.error_code()), (404, "file_not_found"));

    // Health says down: 503 at once, without trying the store.
    peer.set(Mode::Unhealthy);
    wait_status(&server, &key, "minio", "down", Duration::from_secs(2));
    let (calls, refusals) = (
        server.metric("zerodb_object_store_requests_total"),
        server.metric("zerodb_object_store_refusals_total"),
    );
    let refused = server.send("PUT", path, Some(&key), Some(body.clone()));
    assert_eq!((refused.status, refused.error_code()), (503, "files_unavailable"));
    assert!(refused.retry_after.is_some());
    assert_eq!(
        server.metric("zerodb_object_store_requests_total"),
        calls,
        "the store was tried"
    );
    assert_eq!(server.metric("zerodb_object_store_refusals_total"), refusals + 1.0);
    peer.set(Mode::Healthy);
    wait_status(&server, &key, "minio", "healthy", Duration::from_secs(2));
    assert_eq!(server.send("PUT", path, Some(&key), Some(body.clone())).status, 200);

    // The store dies between probes: the request itself fails over to a 503.
    s3.stop();
    let calls = server.metric("zerodb_object_store_requests_total");
    let failed = server.send("GET", path, Some(&key), None);
    assert_eq!(server.metric("zerodb_object_store_requests_total"), calls + 1.0);
    assert_eq!((failed.status, failed.error_code()), (503, "files_unavailable"));
    assert!(failed.retry_after.is_some());
    assert!(failed.elapsed < Duration::from_secs(5), "{:?}", failed.elapsed);
}
