//! Acknowledged writes survive a restart; projects never see each other.

use crate::harness::*;
use serde_json::json;

#[test]
fn data_survives_a_restart_and_projects_are_isolated() {
    let db = TestDb::new("restart");
    let acme = db.key("acme");
    let globex = db.key("globex");
    let server = Server::start(&db.url);
    server
        .call("PUT", "/v1/collections/shared-name", &acme, Some(&json!({"dims": 3})))
        .ok();
    server
        .call("PUT", "/v1/collections/shared-name", &globex, Some(&json!({"dims": 3})))
        .ok();
    let acme_vectors = json!({"vectors": [
        {"id": "a1", "values": [1.0, 0.0, 0.0], "metadata": {"owner": "acme"}},
        {"id": "a2", "values": [0.0, 1.0, 0.0], "metadata": {"owner": "acme"}},
    ]});
    let globex_vectors = json!({"vectors": [{"id": "g1", "values": [1.0, 0.1, 0.0], "metadata": {"owner": "globex"}}]});
    server
        .call("PUT", "/v1/collections/shared-name/vectors", &acme, Some(&acme_vectors))
        .ok();
    server
        .call(
            "PUT",
            "/v1/collections/shared-name/vectors",
            &globex,
            Some(&globex_vectors),
        )
        .ok();
    server
        .call(
            "POST",
            "/v1/memory",
            &acme,
            Some(&json!({"id": "m1", "session_id": "s", "role": "user", "content": "kept", "embedding": [1.0, 2.0]})),
        )
        .ok();
    let status = server.stop();
    assert!(status.success(), "SIGTERM should exit 0, got {status}");

    let server = Server::start(&db.url);
    let got = server
        .call("GET", "/v1/collections/shared-name/vectors/a2", &acme, None)
        .ok();
    assert_eq!(got["values"], json!([0.0, 1.0, 0.0]));
    assert_eq!(
        server.call("GET", "/v1/collections/shared-name", &acme, None).ok()["count"],
        2
    );
    assert_eq!(server.call("GET", "/v1/memory/m1", &acme, None).ok()["content"], "kept");

    // Same collection name, two projects: each sees only its own vectors.
    let search = json!({"vector": [1.0, 0.0, 0.0], "k": 10});
    let acme_hits = hit_ids(
        &server
            .call("POST", "/v1/collections/shared-name/search", &acme, Some(&search))
            .ok(),
    );
    assert_eq!(acme_hits, ["a1", "a2"]);
    let globex_hits = hit_ids(
        &server
            .call("POST", "/v1/collections/shared-name/search", &globex, Some(&search))
            .ok(),
    );
    assert_eq!(globex_hits, ["g1"]);
    assert_eq!(
        server
            .call("GET", "/v1/collections/shared-name/vectors/a1", &globex, None)
            .status,
        404
    );
    assert_eq!(
        server
            .call("DELETE", "/v1/collections/shared-name/vectors/a1", &globex, None)
            .status,
        404
    );
    assert_eq!(server.call("GET", "/v1/memory/m1", &globex, None).status, 404);
    assert_eq!(server.call("DELETE", "/v1/memory/m1", &globex, None).status, 404);
    // globex dropping its collection leaves acme's.
    server.call("DELETE", "/v1/collections/shared-name", &globex, None).ok();
    assert_eq!(
        server.call("GET", "/v1/collections/shared-name", &acme, None).ok()["count"],
        2
    );

    // A revoked key stops working once the server's key cache (2 s by default) lapses.
    let out = db.cli(&["keys", "revoke", &globex]);
    assert!(out.status.success());
    let revoked = std::time::Instant::now();
    loop {
        let reply = server.call("GET", "/v1/collections/shared-name", &globex, None);
        if reply.status == 401 {
            assert_eq!(reply.error_code(), "invalid_api_key");
            break;
        }
        assert!(
            revoked.elapsed().as_secs_f64() < 3.0,
            "revoked key still accepted: {}",
            reply.status
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
