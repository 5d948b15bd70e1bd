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

    // A revoked key stops working within the server's key cache (2 s by
    // default), while 31 clients keep using it: every request that starts
    // past that bound is refused, and every one before it is answered
    // either way, never with an error.
    let revoked: std::sync::Mutex<Option<std::time::Instant>> = Default::default();
    let bound = std::time::Duration::from_millis(2000);
    let seen = clients(CLIENTS, |client| {
        let (mut late, mut refused, mut other) = (0, 0, Vec::new());
        if client == 0 {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let out = db.cli(&["keys", "revoke", &globex]);
            assert!(out.status.success());
            *revoked.lock().unwrap() = Some(std::time::Instant::now());
            return (late, refused, other);
        }
        loop {
            let started = std::time::Instant::now();
            let reply = server.call("GET", "/v1/collections/shared-name", &globex, None);
            let since = revoked.lock().unwrap().map(|at| started.saturating_duration_since(at));
            match (reply.status, reply.error_code()) {
                (401, "invalid_api_key") => refused += 1,
                (200, _) | (404, _) if since.is_none_or(|s| s < bound) => {}
                (status, code) if since.is_some_and(|s| s >= bound) => {
                    late += 1;
                    other.push(format!("{status} {code}"));
                }
                (status, code) => other.push(format!("{status} {code}")),
            }
            if since.is_some_and(|s| s > bound + std::time::Duration::from_millis(300)) {
                return (late, refused, other);
            }
        }
    });
    let late: usize = seen.iter().map(|s| s.0).sum();
    let refused: usize = seen.iter().map(|s| s.1).sum();
    let other: Vec<&String> = seen.iter().flat_map(|s| &s.2).collect();
    assert_eq!(late, 0, "the revoked key was accepted past {bound:?}: {other:?}");
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert!(refused >= CLIENTS, "only {refused} requests were refused");
}
