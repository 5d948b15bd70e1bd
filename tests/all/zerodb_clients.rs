//! ZeroDB's published clients, pinned and installed by `scripts/pyenv` and
//! `scripts/nodeenv`, run against the edge by changing only their base URL:
//! the LangChain and LlamaIndex vector stores (`embed-and-store`, then a
//! text search that must rank the right document first) and the agent
//! memory MCP server driven over MCP stdio (three facts remembered, the
//! right one recalled first). Each driver asserts its own outcome and exits
//! non-zero with the reason when it is not met.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn env_path(name: &str, made_by: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run {made_by} (scripts/test does) and set {name} to what it prints")
    })
}

fn run(program: &str, script: &Path, server: &Server, key: &str, project: &str, extra: &[(&str, String)]) {
    let mut command = Command::new(program);
    command
        .arg(script)
        .env("ZERODB_BASE_URL", &server.base)
        .env("ZERODB_API_KEY", key)
        .env("ZERODB_PROJECT_ID", project)
        .envs(extra.iter().map(|(k, v)| (k, v)));
    run_driver(&mut command, script);
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn zerodbs_published_clients_work_against_the_edge() {
    let python = env_path("ZERODB_PYTHON", "scripts/pyenv");
    let node_modules = env_path("ZERODB_NODE_MODULES", "scripts/nodeenv");
    let db = TestDb::new("zerodb_clients");
    let key = db.key("acme");
    let project = db.project_uuid("acme");
    let server = Server::start_env(&db.url, &["--migrate"], &embedding_env());
    for driver in ["langchain_store.py", "llamaindex_store.py"] {
        let script = repo(&format!("tests/python/clients/{driver}"));
        run(&python, &script, &server, &key, &project, &[]);
    }
    let script = repo("tests/node/memory_mcp.mjs");
    run(
        "node",
        &script,
        &server,
        &key,
        &project,
        &[("ZERODB_NODE_MODULES", node_modules)],
    );
}
