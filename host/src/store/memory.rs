//! Agent memory records: one table for all projects, embeddings of any
//! dimension; a search compares only records whose embedding has the query's
//! dimension, exactly (sessions are small; the (project, session) index
//! narrows the scan).

use super::{db_error, Project, Result, Store};
use edge_core::error::{code, ApiError};
use edge_core::model::*;
use edge_core::validate;
use pgvector::Vector;

const COLUMNS: &str = "id, session_id, role, content, embedding, metadata, \
                       (extract(epoch from created_at) * 1000)::bigint AS created_at_ms";

fn record(row: &tokio_postgres::Row, include_embedding: bool) -> MemoryRecord {
    MemoryRecord {
        id: row.get("id"),
        session_id: row.get("session_id"),
        role: row.get("role"),
        content: row.get("content"),
        embedding: if include_embedding {
            row.get::<_, Vector>("embedding").to_vec()
        } else {
            Vec::new()
        },
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

fn not_found(id: &str) -> ApiError {
    ApiError::new(code::MEMORY_NOT_FOUND, format!("no memory record {id:?}"))
}

impl Store {
    pub async fn put_memory(&self, project: &Project, memory: NewMemory) -> Result<MemoryRecord> {
        if let Some(id) = &memory.id {
            validate::id("id", id)?;
        }
        validate::id("session_id", &memory.session_id)?;
        validate::id("role", &memory.role)?;
        validate::text("content", &memory.content, validate::MAX_CONTENT_BYTES)?;
        validate::vector(&memory.embedding, None)?;
        validate::vector_for_metric(&memory.embedding, Metric::Cosine)?;
        let metadata: serde_json::Value = serde_json::from_str(&memory.metadata)
            .map_err(|_| ApiError::new(code::INVALID_METADATA, "metadata must be a JSON object"))?;
        validate::metadata(&metadata)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        check_memory_dims(&tx, project, memory.embedding.len(), true, self.memory_dims).await?;
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO zerodb.memories (project_id, id, session_id, role, content, embedding, metadata)
                 VALUES ($1, coalesce($2, gen_random_uuid()::text), $3, $4, $5, $6, $7)
                 ON CONFLICT (project_id, id) DO UPDATE SET session_id = EXCLUDED.session_id,
                     role = EXCLUDED.role, content = EXCLUDED.content,
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
                    &Vector::from(memory.embedding),
                    &metadata,
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
        validate::vector(&query.embedding, None)?;
        validate::vector_for_metric(&query.embedding, Metric::Cosine)?;
        if let Some(session) = &query.session_id {
            validate::id("session_id", session)?;
        }
        let client = self.client().await?;
        check_memory_dims(&client, project, query.embedding.len(), false, self.memory_dims).await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, (embedding <=> $2)::float8 AS distance FROM zerodb.memories
                 WHERE project_id = $1 AND vector_dims(embedding) = $3
                   AND ($4::text IS NULL OR session_id = $4)
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
}
