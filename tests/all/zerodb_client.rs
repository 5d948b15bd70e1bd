//! ZeroDB's own HTTP API driven by a client written from ZeroDB's spec
//! (`tests/python/zerodb_client.py`), not from this code: the calls
//! ZeroDB's live-confirmed clients make, each answer's shape checked.

use crate::harness::*;
use std::path::Path;
use std::process::Command;

#[test]
fn a_client_written_from_zerodbs_spec_gets_the_answers_it_expects() {
    let python = std::env::var("ZERODB_PYTHON").unwrap_or_else(|_| {
        panic!(
            "ZERODB_PYTHON is not set: run scripts/pyenv (scripts/test does) and set \
             ZERODB_PYTHON to the python it prints"
        )
    });
    let db = TestDb::new("zerodb_client");
    let key = db.key("acme");
    let project = db.project_uuid("acme");
    let server = Server::start_with(&db.url, &["--migrate"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/zerodb_client.py");
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .args(["--base-url", &server.base, "--api-key", &key, "--project-id", &project]);
    run_driver(&mut command, &script);
}
