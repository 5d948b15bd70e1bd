//! Agent memory records: one table for all projects, embeddings of any
//! dimension (or none); a search compares only records whose embedding has
//! the query's dimension, exactly (sessions are small; the (project,
//! session) index narrows the scan).

use super::{db_error, Project, Result, Store};
use edge_core::error::{code, ApiError};
use edge_core::model::*;
use edge_core::validate;
use pgvector::Vector;

const COLUMNS: &str = "id, session_id, agent_id, role, content, embedding, metadata, \
                       (extract(epoch from created_at) * 1000)::bigint AS created_at_ms";

fn record(row: &tokio_postgres::Row, include_embedding: bool) -> MemoryRecord {
    MemoryRecord {
        id: row.get("id"),
        session_id: row.get("session_id"),
        agent_id: row.get("agent_id"),
        role: row.get("role"),
        content: row.get("content"),
        embedding: include_embedding
            .then(|| row.get::<_, Option<Vector>>("embedding").map(|v| v.to_vec()))
            .flatten(),
        metadata: row.get::<_, serde_json::Value>("metadata").to_string(),
        created_at_ms: row.get::<_, i64>("created_at_ms").max(0) as u64,
    }
}

/// Checks `len` against the project's declared memory dimension. With none
/// declared, a write (`declare`) declares it: the configured dimension
/// `configured` if any (then `len` must match it), else `len`; a search
/// expects `configured`, else [`validate::DEFAULT_DIMS`]. A mismatch is 422
/// `dimension_mismatch`.
async fn check_memory_dims(
    client: &impl deadpool_postgres::GenericClient,
    project: &Project,
    len: usize,
    declare: bool,
    configured: Option<u32>,
) -> Result<()> {
    let declared: Option<i32> = client
        .query_one("SELECT memory_dims FROM zerodb.projects WHERE id = $1", &[&project.id])
        .await
        .map_err(db_error)?
        .get(0);
    let declared = match (declared, configured) {
        (Some(dims), _) => dims as u32,
        (None, Some(dims)) if !declare || len != dims as usize => dims,
        (None, None) if !declare => validate::DEFAULT_DIMS,
        (None, _) => client
            .query_one(
                "UPDATE zerodb.projects SET memory_dims = coalesce(memory_dims, $2) WHERE id = $1
                 RETURNING memory_dims",
                &[&project.id, &(len as i32)],
            )
            .await
            .map_err(db_error)?
            .get::<_, i32>(0) as u32,
    };
    if len != declared as usize {
        return Err(ApiError::new(
            code::DIMENSION_MISMATCH,
            format!("the embedding has {len} dimensions; this project's memory records have {declared}"),
        ));
    }
    Ok(())
}

/// Checks the ids given (session, agent, role) as ids.
fn check_ids(fields: [(&str, Option<&String>); 3]) -> Result<()> {
    for (name, value) in fields {
        if let Some(value) = value {
            validate::id(name, value)?;
        }
    }
    Ok(())
}

/// Checks an embedding as a memory record's: finite, and one cosine scores.
fn check_embedding(embedding: &[f32]) -> Result<()> {
    validate::vector(embedding, None)?;
    validate::vector_for_metric(embedding, Metric::Cosine)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(code::MEMORY_NOT_FOUND, format!("no memory record {id:?}"))
}

impl Store {
    pub async fn put_memory(&self, project: &Project, memory: NewMemory) -> Result<MemoryRecord> {
        if let Some(id) = &memory.id {
            validate::id("id", id)?;
        }
        check_ids([
            ("session_id", Some(&memory.session_id)),
            ("agent_id", memory.agent_id.as_ref()),
            ("role", Some(&memory.role)),
        ])?;
        validate::text("content", &memory.content, validate::MAX_CONTENT_BYTES)?;
        if let Some(embedding) = &memory.embedding {
            check_embedding(embedding)?;
        }
        let metadata = validate::metadata_text(&memory.metadata)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if let Some(embedding) = &memory.embedding {
            check_memory_dims(&tx, project, embedding.len(), true, self.memory_dims).await?;
        }
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO zerodb.memories (project_id, id, session_id, agent_id, role, content, embedding, metadata)
                 VALUES ($1, coalesce($2, gen_random_uuid()::text), $3, $8, $4, $5, $6, $7)
                 ON CONFLICT (project_id, id) DO UPDATE SET session_id = EXCLUDED.session_id,
                     agent_id = EXCLUDED.agent_id, role = EXCLUDED.role, content = EXCLUDED.content,
                     embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(db_error)?;
        let row = tx
            .query_one(
                &stmt,
                &[
                    &project.id,
                    &memory.id,
                    &memory.session_id,
                    &memory.role,
                    &memory.content,
                    &memory.embedding.map(Vector::from),
                    &metadata,
                    &memory.agent_id,
                ],
            )
            .await
            .map_err(db_error)?;
        let record = record(&row, false);
        let event = serde_json::json!({"memory_id": record.id, "session_id": record.session_id});
        self.record_event(&tx, project, "memory.put", event).await?;
        tx.commit().await.map_err(db_error)?;
        self.events_committed();
        Ok(record)
    }

    pub async fn get_memory(&self, project: &Project, id: &str) -> Result<MemoryRecord> {
        validate::id("id", id)?;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM zerodb.memories WHERE project_id = $1 AND id = $2"
            ))
            .await
            .map_err(db_error)?;
        let row = client.query_opt(&stmt, &[&project.id, &id]).await.map_err(db_error)?;
        Ok(record(&row.ok_or_else(|| not_found(id))?, true))
    }

    /// Changes the fields `patch` gives of record `id`, in one statement (a
    /// concurrent delete wins: the record is never re-created). Errors: 404
    /// `memory_not_found`; the checks of [`Store::put_memory`] for the new
    /// values.
    pub async fn update_memory(&self, project: &Project, id: &str, patch: &MemoryPatch) -> Result<MemoryRecord> {
        validate::id("id", id)?;
        check_ids([
            ("session_id", patch.session_id.as_ref()),
            ("agent_id", patch.agent_id.as_ref()),
            ("role", patch.role.as_ref()),
        ])?;
        if let Some(content) = &patch.content {
            validate::text("content", content, validate::MAX_CONTENT_BYTES)?;
        }
        if let Some(embedding) = &patch.embedding {
            check_embedding(embedding)?;
        }
        let metadata = patch.metadata.as_deref().map(validate::metadata_text).transpose()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if let Some(embedding) = &patch.embedding {
            check_memory_dims(&tx, project, embedding.len(), true, self.memory_dims).await?;
        }
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE zerodb.memories SET session_id = coalesce($3, session_id),
                     agent_id = coalesce($4, agent_id), role = coalesce($5, role),
                     content = coalesce($6, content), embedding = coalesce($7, embedding),
                     metadata = coalesce($8, metadata)
                 WHERE project_id = $1 AND id = $2
                 RETURNING {COLUMNS}"
            ))
            .await
            .map_err(db_error)?;
        let row = tx
            .query_opt(
                &stmt,
                &[
                    &project.id,
                    &id,
                    &patch.session_id,
                    &patch.agent_id,
                    &patch.role,
                    &patch.content,
                    &patch.embedding.clone().map(Vector::from),
                    &metadata,
                ],
            )
            .await
            .map_err(db_error)?;
        let record = record(&row.ok_or_else(|| not_found(id))?, false);
        let event = serde_json::json!({"memory_id": record.id, "session_id": record.session_id});
        self.record_event(&tx, project, "memory.updated", event).await?;
        tx.commit().await.map_err(db_error)?;
        self.events_committed();
        Ok(record)
    }

    pub async fn delete_memory(&self, project: &Project, id: &str) -> Result<()> {
        validate::id("id", id)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let n = tx
            .execute(
                "DELETE FROM zerodb.memories WHERE project_id = $1 AND id = $2",
                &[&project.id, &id],
            )
            .await
            .map_err(db_error)?;
        if n == 0 {
            return Err(not_found(id));
        }
        self.record_event(&tx, project, "memory.deleted", serde_json::json!({"memory_id": id}))
            .await?;
        tx.commit().await.map_err(db_error)?;
        self.events_committed();
        Ok(())
    }

    pub async fn search_memory(&self, project: &Project, query: &MemoryQuery) -> Result<Vec<MemoryHit>> {
        validate::k(query.k)?;
        check_embedding(&query.embedding)?;
        check_ids([
            ("session_id", query.session_id.as_ref()),
            ("agent_id", query.agent_id.as_ref()),
            ("role", query.role.as_ref()),
        ])?;
        let client = self.client().await?;
        check_memory_dims(&client, project, query.embedding.len(), false, self.memory_dims).await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, (embedding <=> $2)::float8 AS distance FROM zerodb.memories
                 WHERE project_id = $1 AND vector_dims(embedding) = $3
                   AND ($4::text IS NULL OR session_id = $4)
                   AND ($6::text IS NULL OR agent_id = $6) AND ($7::text IS NULL OR role = $7)
                 ORDER BY embedding <=> $2 LIMIT $5"
            ))
            .await
            .map_err(db_error)?;
        let dims = query.embedding.len() as i32;
        let rows = client
            .query(
                &stmt,
                &[
                    &project.id,
                    &Vector::from(query.embedding.clone()),
                    &dims,
                    &query.session_id,
                    &i64::from(query.k),
                    &query.agent_id,
                    &query.role,
                ],
            )
            .await
            .map_err(db_error)?;
        // A record stored before embeddings were checked (a zero vector)
        // has no finite cosine: it is left out rather than scored NaN.
        Ok(rows
            .iter()
            .filter_map(|row| {
                let score = (1.0 - row.get::<_, f64>("distance")) as f32;
                score.is_finite().then(|| MemoryHit {
                    memory: record(row, query.include_embedding),
                    score,
                })
            })
            .collect())
    }

    /// A page of the project's memory records, newest first, with how many
    /// match in all.
    pub async fn list_memory(&self, project: &Project, page: &MemoryList) -> Result<MemoryPage> {
        if !(1..=validate::MAX_BATCH as u32).contains(&page.limit) {
            return Err(ApiError::new(
                code::INVALID_LIMIT,
                format!("limit must be between 1 and {}", validate::MAX_BATCH),
            ));
        }
        const MATCHING: &str = "FROM zerodb.memories WHERE project_id = $1
             AND ($2::text IS NULL OR session_id = $2) AND ($3::text IS NULL OR agent_id = $3)
             AND ($4::text IS NULL OR role = $4)";
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} {MATCHING} ORDER BY created_at DESC, id OFFSET $5 LIMIT $6"
            ))
            .await
            .map_err(db_error)?;
        let filters: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&project.id, &page.session_id, &page.agent_id, &page.role];
        let (skip, limit) = (i64::from(page.skip), i64::from(page.limit));
        let rows = client
            .query(&stmt, &[filters[0], filters[1], filters[2], filters[3], &skip, &limit])
            .await
            .map_err(db_error)?;
        let total: i64 = client
            .query_one(&format!("SELECT count(*) {MATCHING}"), &filters)
            .await
            .map_err(db_error)?
            .get(0);
        Ok(MemoryPage {
            records: rows.iter().map(|row| record(row, false)).collect(),
            total: total.max(0) as u64,
        })
    }
}
