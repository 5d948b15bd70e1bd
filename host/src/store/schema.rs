//! Versioned migrations and schema-drift detection.
//!
//! Migrations are applied in order, each in its own transaction, and recorded
//! in `zerodb.schema_migrations`. `migrate --check` compares the live schema
//! with `schema.snapshot` (what the migrations produce, regenerated with
//! `zerodb-edge migrate --print-schema` on a fresh database) and checks that
//! every collection's table still has its vector column and index.

use super::{collections, db_error, Result, Store};
use std::collections::BTreeSet;

/// `(version, name, sql)`, applied in order. Never edit a released entry; add one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "projects, keys, collections, memory records", MIGRATION_1),
    (
        2,
        "per-collection edge cache similarity",
        "ALTER TABLE zerodb.collections ADD COLUMN cache_similarity real NOT NULL DEFAULT 1
             CHECK (cache_similarity > 0 AND cache_similarity <= 1);",
    ),
    (
        3,
        "outbox of change events",
        "CREATE TABLE zerodb.outbox (
             seq bigserial PRIMARY KEY,
             event_id uuid NOT NULL DEFAULT gen_random_uuid(),
             project_id bigint NOT NULL,
             kind text NOT NULL,
             payload jsonb NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now());",
    ),
    (
        4,
        "declared memory embedding dimension per project",
        "ALTER TABLE zerodb.projects ADD COLUMN memory_dims integer
             CHECK (memory_dims BETWEEN 1 AND 16000);
         UPDATE zerodb.projects p SET memory_dims =
             (SELECT vector_dims(m.embedding) FROM zerodb.memories m WHERE m.project_id = p.id LIMIT 1);",
    ),
    (
        5,
        "project UUIDs, ZeroDB's vector document, source and write time, memory agents",
        "ALTER TABLE zerodb.projects ADD COLUMN uuid uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE;
         ALTER TABLE zerodb.memories ADD COLUMN agent_id text, ALTER COLUMN embedding DROP NOT NULL;
         DO $$
         DECLARE c bigint;
         BEGIN
             FOR c IN SELECT id FROM zerodb.collections LOOP
                 EXECUTE format('ALTER TABLE zerodb_data.%I ADD COLUMN document text,
                     ADD COLUMN source text, ADD COLUMN written_at timestamptz NOT NULL DEFAULT now()',
                     'c' || c);
             END LOOP;
         END $$;",
    ),
    (
        6,
        "the embedding model a collection's vectors come from",
        "ALTER TABLE zerodb.collections ADD COLUMN model text;",
    ),
];

const MIGRATION_1: &str = r#"
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS zerodb_data;
CREATE TABLE zerodb.projects (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE zerodb.api_keys (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES zerodb.projects (id) ON DELETE CASCADE,
    key_hash bytea NOT NULL UNIQUE,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE TABLE zerodb.collections (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES zerodb.projects (id) ON DELETE CASCADE,
    name text NOT NULL,
    dims integer NOT NULL CHECK (dims BETWEEN 1 AND 16000),
    metric text NOT NULL CHECK (metric IN ('cosine', 'l2', 'dot')),
    index_kind text NOT NULL CHECK (index_kind IN ('hnsw', 'ivfflat', 'none')),
    version bigint NOT NULL DEFAULT 0,
    vector_count bigint NOT NULL DEFAULT 0,
    ivf_lists integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);
CREATE TABLE zerodb.memories (
    project_id bigint NOT NULL REFERENCES zerodb.projects (id) ON DELETE CASCADE,
    id text NOT NULL,
    session_id text NOT NULL,
    role text NOT NULL,
    content text NOT NULL,
    embedding vector NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);
CREATE INDEX memories_session ON zerodb.memories (project_id, session_id);
"#;

/// What the live schema must look like after all migrations.
const EXPECTED: &str = include_str!("schema.snapshot");

impl Store {
    /// Applies the migrations not applied yet; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        let mut client = self.client().await?;
        client
            .batch_execute(
                "CREATE SCHEMA IF NOT EXISTS zerodb;
                 CREATE TABLE IF NOT EXISTS zerodb.schema_migrations (
                     version integer PRIMARY KEY,
                     name text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(db_error)?;
        let mut applied = 0;
        for &(version, name, sql) in MIGRATIONS {
            let tx = client.transaction().await.map_err(db_error)?;
            // Serialises concurrent migrators.
            tx.execute("LOCK TABLE zerodb.schema_migrations IN EXCLUSIVE MODE", &[])
                .await
                .map_err(db_error)?;
            let done = tx
                .query_opt("SELECT 1 FROM zerodb.schema_migrations WHERE version = $1", &[&version])
                .await
                .map_err(db_error)?;
            if done.is_some() {
                continue;
            }
            tx.batch_execute(sql).await.map_err(db_error)?;
            tx.execute(
                "INSERT INTO zerodb.schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, &name],
            )
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            tracing::info!(version, name, "applied migration");
            applied += 1;
        }
        Ok(applied)
    }

    /// The live schema of `zerodb`, one line per column, constraint and index.
    pub async fn schema_snapshot(&self) -> Result<String> {
        let client = self.client().await?;
        let mut lines = Vec::new();
        let columns = client
            .query(
                "SELECT table_name, column_name, udt_name, is_nullable, coalesce(column_default, '')
                 FROM information_schema.columns WHERE table_schema = 'zerodb'
                 ORDER BY table_name, column_name",
                &[],
            )
            .await
            .map_err(db_error)?;
        for row in columns {
            let (table, column, ty, nullable, default): (String, String, String, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            let null = if nullable == "YES" { "null" } else { "not null" };
            let default = if default.is_empty() {
                String::new()
            } else {
                format!(" default {default}")
            };
            lines.push(format!("column {table}.{column} {ty} {null}{default}"));
        }
        let constraints = client
            .query(
                "SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid)
                 FROM pg_constraint c WHERE c.connamespace = to_regnamespace('zerodb')
                 ORDER BY 1, 2",
                &[],
            )
            .await
            .map_err(db_error)?;
        for row in constraints {
            let (table, def): (String, String) = (row.get(0), row.get(1));
            lines.push(format!("constraint {table} {def}"));
        }
        let indexes = client
            .query(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'zerodb' ORDER BY indexname",
                &[],
            )
            .await
            .map_err(db_error)?;
        for row in indexes {
            let def: String = row.get(0);
            lines.push(format!("index {def}"));
        }
        Ok(lines.join("\n") + "\n")
    }

    /// Differences between the live schema and the expected one, as
    /// `- expected` / `+ live` lines; empty when there is no drift.
    pub async fn schema_drift(&self) -> Result<Vec<String>> {
        let mut drift = Vec::new();
        let client = self.client().await?;
        let has_table = client
            .query_one("SELECT to_regclass('zerodb.schema_migrations') IS NOT NULL", &[])
            .await
            .map_err(db_error)?
            .get::<_, bool>(0);
        let applied: BTreeSet<i32> = if has_table {
            client
                .query("SELECT version FROM zerodb.schema_migrations", &[])
                .await
                .map_err(db_error)?
                .iter()
                .map(|r| r.get(0))
                .collect()
        } else {
            BTreeSet::new()
        };
        for &(version, name, _) in MIGRATIONS {
            if !applied.contains(&version) {
                drift.push(format!("- migration {version} ({name}) is not applied"));
            }
        }
        drop(client);

        let live = self.schema_snapshot().await?;
        let expected: BTreeSet<&str> = EXPECTED.lines().filter(|l| !l.is_empty()).collect();
        let live_lines: BTreeSet<&str> = live.lines().filter(|l| !l.is_empty()).collect();
        drift.extend(expected.difference(&live_lines).map(|l| format!("- {l}")));
        drift.extend(live_lines.difference(&expected).map(|l| format!("+ {l}")));
        if has_table && applied.len() == MIGRATIONS.len() {
            drift.extend(collections::drift(self).await?);
        }
        Ok(drift)
    }
}
