//! The binary's settings and commands: the `--config` file and its
//! precedence, settings refused before the socket is bound, `migrate
//! --print-schema`, and keys stored only as digests.

use crate::harness::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::process::Command;

/// A TOML file in the temporary directory, removed when dropped.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(tag: &str, text: &str) -> ConfigFile {
        let path = std::env::temp_dir().join(format!("zerodb-edge-{tag}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        ConfigFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The dimension a memory search expects, as the server was configured:
/// a search of `dims` floats is accepted (200) or not (422).
fn memory_search_status(server: &Server, key: &str, dims: usize) -> u16 {
    let body = json!({"embedding": vec![0.5f32; dims], "k": 1});
    server.call("POST", "/v1/memory/search", key, Some(&body)).status
}

/// Settings come from flags, then `ZERODB_*` variables, then the file.
#[test]
fn the_config_file_sets_what_flags_and_variables_leave_unset() {
    let db = TestDb::new("config_file");
    let key = db.key("acme");
    let file = ConfigFile::new("file", "memory_dims = 8\ncache_ttl_ms = 60000\n");
    let from_file = Server::start_with(&db.url, &["--migrate", "--config", file.path()]);
    assert_eq!(memory_search_status(&from_file, &key, 8), 200);
    assert_eq!(memory_search_status(&from_file, &key, 1536), 422);
    drop(from_file);
    let from_env = Server::start_env(
        &db.url,
        &["--config", file.path()],
        &[("ZERODB_MEMORY_DIMS", "4".into())],
    );
    assert_eq!(
        memory_search_status(&from_env, &key, 4),
        200,
        "the variable beats the file"
    );
    drop(from_env);
    let from_flag = Server::start_env(
        &db.url,
        &["--config", file.path(), "--memory-dims", "3"],
        &[("ZERODB_MEMORY_DIMS", "4".into())],
    );
    assert_eq!(memory_search_status(&from_flag, &key, 3), 200, "the flag beats both");
}

/// A bad setting stops `serve` before it binds, with a message naming it:
/// an unknown file key, a value out of range.
#[test]
fn bad_settings_are_refused_before_the_socket_is_bound() {
    let db = TestDb::new("config_bad");
    let unknown = ConfigFile::new("unknown", "cache_bytez = 5\n");
    let out_of_range = ConfigFile::new("range", "memory_dims = 0\n");
    for (file, says) in [(&unknown, "cache_bytez"), (&out_of_range, "memory dims")] {
        let out = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--config", file.path()])
            .env("ZERODB_DATABASE_URL", &db.url)
            .env("ZERODB_LOG", "warn")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(!out.status.success(), "{says}: serve started");
        assert!(!stdout.contains("listening"), "{says}: bound before refusing: {stdout}");
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
}

/// `migrate --print-schema` prints the live schema in the form `--check`
/// compares: on a freshly migrated database, exactly the expected schema
/// kept in `host/src/store/schema.snapshot`.
#[test]
fn print_schema_shows_the_live_schema() {
    let db = TestDb::new("print_schema");
    let migrate = db.cli(&["migrate"]);
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let out = db.cli(&["migrate", "--print-schema"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = include_str!("../../host/src/store/schema.snapshot");
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), expected.trim());
}

/// Keys are stored only as their SHA-256 digest (and a short prefix for
/// operators): the key itself appears nowhere in the table.
#[test]
fn keys_are_stored_only_as_digests() {
    let db = TestDb::new("key_digest");
    let key = db.key("acme");
    let rows = db
        .client()
        .query("SELECT key_hash, prefix, to_jsonb(k)::text FROM zerodb.api_keys k", &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (digest, prefix, row): (Vec<u8>, String, String) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!(digest, Sha256::digest(key.as_bytes()).to_vec());
    assert_eq!(prefix, key[..12]);
    assert!(!row.contains(&key[12..]), "the key's secret part is stored: {row}");
}
