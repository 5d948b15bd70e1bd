//! `migrate`, `migrate --check` and the legacy `real[]` import.

use crate::harness::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn migrate_then_check_then_drift() {
    let db = TestDb::new("migrate");
    // An empty database has drift: nothing is applied.
    let out = db.cli(&["migrate", "--check"]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("migration 1"), "{}", stdout(&out));

    let out = db.cli(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = db.cli(&["migrate", "--check"]);
    assert!(out.status.success(), "fresh schema reported drift:\n{}", stdout(&out));
    // Applying again is a no-op.
    assert!(stdout(&db.cli(&["migrate"])).contains("applied 0 migration"));

    db.client()
        .batch_execute("ALTER TABLE zerodb.collections ADD COLUMN owner text")
        .unwrap();
    let out = db.cli(&["migrate", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("+ column collections.owner text null"),
        "{}",
        stdout(&out)
    );

    db.client()
        .batch_execute("ALTER TABLE zerodb.collections DROP COLUMN owner; ALTER TABLE zerodb.memories ALTER COLUMN role DROP NOT NULL")
        .unwrap();
    let out = db.cli(&["migrate", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("- column memories.role text not null"), "{text}");
    assert!(text.contains("+ column memories.role text null"), "{text}");
}

#[test]
fn collection_tables_are_checked_too() {
    let db = TestDb::new("drift_coll");
    let key = db.key("acme");
    let server = Server::start(&db.url);
    server
        .call(
            "PUT",
            "/v1/collections/docs",
            &key,
            Some(&serde_json::json!({"dims": 8})),
        )
        .ok();
    drop(server);
    assert!(db.cli(&["migrate", "--check"]).status.success());
    let id: i64 = db
        .client()
        .query_one("SELECT id FROM zerodb.collections", &[])
        .unwrap()
        .get(0);
    db.client()
        .batch_execute(&format!("DROP INDEX zerodb_data.c{id}_ann"))
        .unwrap();
    let out = db.cli(&["migrate", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!("index zerodb_data.c{id}_ann is missing")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn legacy_real_arrays_convert_to_vectors() {
    let db = TestDb::new("legacy");
    let mut client = db.client();
    client.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").unwrap();
    client
        .batch_execute(
            "CREATE TABLE old_embeddings (id serial PRIMARY KEY, body text, embedding real[]);
             INSERT INTO old_embeddings (body, embedding)
               SELECT 'doc ' || g, ARRAY[g, g * 0.5, -g]::real[] FROM generate_series(1, 250) g;
             CREATE TABLE old_doubles (id int PRIMARY KEY, embedding double precision[]);
             INSERT INTO old_doubles VALUES (1, ARRAY[0.1, 0.2]), (2, ARRAY[0.3, 0.4]);
             CREATE TABLE broken (id int PRIMARY KEY, embedding real[]);
             INSERT INTO broken VALUES (1, ARRAY[1, 2, 3]), (2, ARRAY[1, 2]), (3, NULL), (4, '{1,NaN,3}');",
        )
        .unwrap();

    let out = db.cli(&["import-legacy", "--table", "old_embeddings", "--column", "embedding"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("converted 250 of 250 rows"), "{}", stdout(&out));
    assert_eq!(column_type(&mut client, "old_embeddings"), "vector(3)");
    let row = client
        .query_one(
            "SELECT count(*), (SELECT embedding::text FROM old_embeddings WHERE id = 2) FROM old_embeddings",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 250);
    assert_eq!(row.get::<_, String>(1), "[2,1,-2]");

    let out = db.cli(&["import-legacy", "--table", "old_doubles", "--column", "embedding"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("converted 2 of 2 rows"), "{}", stdout(&out));
    assert_eq!(column_type(&mut client, "old_doubles"), "vector(2)");

    // Rows that cannot convert: refuse, change nothing.
    let out = db.cli(&["import-legacy", "--table", "broken", "--column", "embedding"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 of 4 rows"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = client
        .query_one(
            "SELECT format_type(atttypid, atttypmod), (SELECT count(*) FROM broken) FROM pg_attribute
             WHERE attrelid = 'broken'::regclass AND attname = 'embedding'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "real[]");
    assert_eq!(row.get::<_, i64>(1), 4);
}

/// The SQL type of `table`'s `embedding` column, as PostgreSQL writes it.
fn column_type(client: &mut postgres::Client, table: &str) -> String {
    client
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
             WHERE attrelid = $1::text::regclass AND attname = 'embedding'",
            &[&table],
        )
        .unwrap()
        .get(0)
}
