//! Collections and their vectors. Each collection has its own table
//! (`zerodb_data.c<id>`) with a `vector(dims)` column, a GIN index on its
//! metadata, and the approximate index its spec asks for.

mod drift;
mod ivfflat;
mod row;
mod sql;

use super::{db_error, Project, Result, Store};
use crate::coherence::Change;
use deadpool_postgres::GenericClient;
pub(super) use drift::drift;
use edge_core::error::{code, ApiError};
use edge_core::filter::sql as filter;
use edge_core::model::*;
use edge_core::validate;
use ivfflat::ivfflat_probes;
use pgvector::Vector;
use row::{Collection, COLLECTION_COLUMNS};
use sql::{HALFVEC_INDEX_MAX_DIMS, RECORD_COLUMNS};
use std::collections::HashMap;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

fn not_found(name: &str) -> ApiError {
    ApiError::new(code::COLLECTION_NOT_FOUND, format!("no collection named {name:?}"))
}

/// A table vanishing under a query means the collection was dropped meanwhile.
fn query_error(name: &str) -> impl Fn(tokio_postgres::Error) -> ApiError + '_ {
    move |e| {
        if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
            not_found(name)
        } else {
            db_error(e)
        }
    }
}

/// How a transaction holds the collection's row while it works.
#[derive(Clone, Copy)]
enum Lock {
    /// Not at all: a read.
    None,
    /// Against a drop, but not against other writers: writes to one
    /// collection run side by side, and each takes the row for update only
    /// in [`bump`], just before it commits.
    Write,
    /// Alone: waits for the writes in flight.
    Drop,
}

async fn find(client: &impl GenericClient, project: &Project, name: &str, lock: Lock) -> Result<Collection> {
    let sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM zerodb.collections WHERE project_id = $1 AND name = $2{}",
        match lock {
            Lock::None => "",
            Lock::Write => " FOR KEY SHARE",
            Lock::Drop => " FOR UPDATE",
        }
    );
    let stmt = client.prepare_cached(&sql).await.map_err(db_error)?;
    let row = client.query_opt(&stmt, &[&project.id, &name]).await.map_err(db_error)?;
    Collection::from_row(&row.ok_or_else(|| not_found(name))?)
}

impl Store {
    pub async fn create_collection(
        &self,
        project: &Project,
        name: &str,
        spec: CollectionSpec,
    ) -> Result<CollectionInfo> {
        validate::collection_name(name)?;
        validate::dims(spec.dims)?;
        validate::cache_similarity(spec.cache_similarity)?;
        if spec.index != IndexKind::None && spec.dims > HALFVEC_INDEX_MAX_DIMS {
            return Err(ApiError::new(
                code::DIMS_EXCEED_INDEX_LIMIT,
                format!(
                    "pgvector indexes at most {HALFVEC_INDEX_MAX_DIMS} dimensions (as halfvec); \
                     use index \"none\" for {} dimensions",
                    spec.dims
                ),
            ));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let lists: i32 = if spec.index == IndexKind::Ivfflat { 1 } else { 0 };
        let inserted = tx
            .query_opt(
                &format!(
                    "INSERT INTO zerodb.collections (project_id, name, dims, metric, index_kind, ivf_lists, cache_similarity, model)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (project_id, name) DO NOTHING
                     RETURNING {COLLECTION_COLUMNS}"
                ),
                &[
                    &project.id,
                    &name,
                    &(spec.dims as i32),
                    &spec.metric.name(),
                    &spec.index.name(),
                    &lists,
                    &spec.cache_similarity,
                    &spec.model,
                ],
            )
            .await
            .map_err(db_error)?;
        let Some(row) = inserted else {
            drop(tx);
            let existing = find(&client, project, name, Lock::None).await?;
            return if existing.spec == spec {
                Ok(existing.info())
            } else {
                Err(ApiError::new(
                    code::COLLECTION_EXISTS,
                    format!("collection {name:?} exists with a different spec"),
                ))
            };
        };
        let collection = Collection::from_row(&row)?;
        let table = collection.table();
        let mut ddl = format!(
            "CREATE TABLE {table} (
                 id text PRIMARY KEY,
                 embedding vector({}) NOT NULL,
                 metadata jsonb NOT NULL DEFAULT '{{}}',
                 document text,
                 source text,
                 written_at timestamptz NOT NULL DEFAULT now());
             CREATE INDEX c{}_metadata ON {table} USING gin (metadata jsonb_path_ops);",
            spec.dims, collection.id
        );
        if let Some(index) = collection.index_ddl(&collection.index_name(), false, lists) {
            ddl.push_str(&index);
        }
        tx.batch_execute(&ddl).await.map_err(db_error)?;
        let event = serde_json::json!({"collection": name, "spec": {
            "dims": spec.dims, "metric": spec.metric.name(), "index": spec.index.name()}});
        self.record_event(&tx, project, "collection.created", event).await?;
        self.commit_change(tx, written(project, name, &collection, 0)).await?;
        Ok(collection.info())
    }

    pub async fn list_collections(&self, project: &Project) -> Result<Vec<CollectionInfo>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLLECTION_COLUMNS} FROM zerodb.collections WHERE project_id = $1 ORDER BY name"
            ))
            .await
            .map_err(db_error)?;
        let rows = client.query(&stmt, &[&project.id]).await.map_err(db_error)?;
        rows.iter().map(|row| Ok(Collection::from_row(row)?.info())).collect()
    }

    pub async fn describe_collection(&self, project: &Project, name: &str) -> Result<CollectionInfo> {
        let client = self.client().await?;
        Ok(find(&client, project, name, Lock::None).await?.info())
    }

    /// The collection's coherence token, none when it does not exist: from
    /// the coherence table while the feed is live, else from the database.
    pub async fn collection_token(&self, project: &Project, name: &str) -> Result<Option<Token>> {
        if let Some(token) = self.coherence.token(project.id, name) {
            return Ok(token);
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT id, version FROM zerodb.collections WHERE project_id = $1 AND name = $2")
            .await
            .map_err(db_error)?;
        let row = client.query_opt(&stmt, &[&project.id, &name]).await.map_err(db_error)?;
        Ok(row.map(|row| {
            let token = Token {
                incarnation: row.get::<_, i64>(0) as u64,
                version: row.get::<_, i64>(1).max(0) as u64,
            };
            self.coherence
                .advance(project.id, name, token.incarnation, token.version);
            token
        }))
    }

    pub async fn drop_collection(&self, project: &Project, name: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let collection = find(&tx, project, name, Lock::Drop).await?;
        tx.batch_execute(&format!(
            "DROP TABLE IF EXISTS {}; DELETE FROM zerodb.collections WHERE id = {}",
            collection.table(),
            collection.id
        ))
        .await
        .map_err(db_error)?;
        let event = serde_json::json!({"collection": name, "version": collection.version});
        self.record_event(&tx, project, "collection.dropped", event).await?;
        let dropped = Change::Dropped {
            project: project.id,
            name: name.to_string(),
            incarnation: collection.id as u64,
        };
        self.commit_change(tx, dropped).await
    }

    pub async fn upsert(&self, project: &Project, name: &str, records: Vec<VectorRecord>) -> Result<WriteResult> {
        if records.len() > validate::MAX_BATCH {
            return Err(ApiError::new(
                code::BATCH_TOO_LARGE,
                format!("at most {} vectors per call", validate::MAX_BATCH),
            ));
        }
        // The last occurrence of a repeated id wins.
        let mut by_id: HashMap<String, usize> = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            by_id.insert(r.id.clone(), i);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let collection = find(&tx, project, name, Lock::Write).await?;
        let (mut ids, mut vectors, mut metadata) = (Vec::new(), Vec::new(), Vec::new());
        let (mut documents, mut sources) = (Vec::new(), Vec::new());
        for (i, record) in records.into_iter().enumerate() {
            if by_id.get(&record.id) != Some(&i) {
                continue;
            }
            validate::id("id", &record.id)?;
            validate::vector(&record.values, Some(collection.spec.dims))?;
            validate::vector_for_metric(&record.values, collection.spec.metric)?;
            let meta = validate::metadata_text(&record.metadata)?;
            for text in [&record.document, &record.source].into_iter().flatten() {
                validate::text("document and source", text, validate::MAX_CONTENT_BYTES)?;
            }
            ids.push(record.id);
            vectors.push(Vector::from(record.values));
            metadata.push(meta);
            documents.push(record.document);
            sources.push(record.source);
        }
        // Every record of one write carries the write's time (the
        // transaction's start), which the edge stamps on its copies too.
        let sql = format!(
            "INSERT INTO {} (id, embedding, metadata, document, source, written_at)
             SELECT *, now() FROM unnest($1::text[], $2::vector[], $3::jsonb[], $4::text[], $5::text[])
             ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata,
                 document = EXCLUDED.document, source = EXCLUDED.source, written_at = EXCLUDED.written_at
             RETURNING (xmax = 0), (extract(epoch from now()) * 1000000)::int8",
            collection.table()
        );
        let rows = tx
            .query(&sql, &[&ids, &vectors, &metadata, &documents, &sources])
            .await
            .map_err(query_error(name))?;
        let at_us = match rows.first() {
            Some(row) => row.get::<_, i64>(1).max(0) as u64,
            None => 0,
        };
        let inserted = rows.iter().filter(|r| r.get::<_, bool>(0)).count() as i64;
        let (version, count) = bump(&tx, &collection, inserted).await?;
        let event = serde_json::json!({"collection": name, "version": version, "ids": ids});
        self.record_event(&tx, project, "vectors.upserted", event).await?;
        self.commit_change(tx, written(project, name, &collection, version))
            .await?;
        self.maybe_rebuild_ivfflat(&collection, count);
        Ok(WriteResult {
            affected: rows.len() as u64,
            version: version as u64,
            at_us,
        })
    }

    pub async fn get_vector(&self, project: &Project, name: &str, id: &str) -> Result<VectorRecord> {
        validate::id("id", id)?;
        let client = self.client().await?;
        let collection = find(&client, project, name, Lock::None).await?;
        let sql = format!(
            "SELECT id, {RECORD_COLUMNS}, embedding FROM {} WHERE id = $1",
            collection.table()
        );
        let stmt = client.prepare_cached(&sql).await.map_err(query_error(name))?;
        let row = client.query_opt(&stmt, &[&id]).await.map_err(query_error(name))?;
        let row = row.ok_or_else(|| ApiError::new(code::VECTOR_NOT_FOUND, format!("no vector {id:?} in {name}")))?;
        Ok(record(&row))
    }

    /// Up to `limit` vectors with ids after `after`, in id order.
    pub async fn list_vectors(
        &self,
        project: &Project,
        name: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<VectorPage> {
        if !(1..=validate::MAX_BATCH as u32).contains(&limit) {
            return Err(ApiError::new(
                code::INVALID_LIMIT,
                format!("limit must be between 1 and {}", validate::MAX_BATCH),
            ));
        }
        let mut client = self.client().await?;
        // One snapshot for the rows and the version they belong to.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_error)?;
        let collection = find(&tx, project, name, Lock::None).await?;
        let sql = format!(
            "SELECT id, {RECORD_COLUMNS}, embedding FROM {} WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
            collection.table()
        );
        let stmt = tx.prepare_cached(&sql).await.map_err(query_error(name))?;
        let rows = tx
            .query(&stmt, &[&after, &i64::from(limit)])
            .await
            .map_err(query_error(name))?;
        tx.commit().await.map_err(db_error)?;
        let records: Vec<VectorRecord> = rows.iter().map(record).collect();
        let next = (records.len() == limit as usize).then(|| records[records.len() - 1].id.clone());
        Ok(VectorPage {
            records,
            next,
            version: collection.version as u64,
        })
    }

    pub async fn delete_vector(&self, project: &Project, name: &str, id: &str) -> Result<WriteResult> {
        validate::id("id", id)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let collection = find(&tx, project, name, Lock::Write).await?;
        let sql = format!("DELETE FROM {} WHERE id = $1", collection.table());
        let deleted = tx.execute(&sql, &[&id]).await.map_err(query_error(name))? as i64;
        let version = if deleted > 0 {
            let version = bump(&tx, &collection, -deleted).await?.0;
            let event = serde_json::json!({"collection": name, "version": version, "ids": [id]});
            self.record_event(&tx, project, "vectors.deleted", event).await?;
            self.commit_change(tx, written(project, name, &collection, version))
                .await?;
            version
        } else {
            // Nothing changed: nothing to announce.
            tx.commit().await.map_err(db_error)?;
            collection.version
        };
        Ok(WriteResult {
            affected: deleted as u64,
            version: version as u64,
            // A delete stores no record: its time is the host's clock.
            at_us: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
        })
    }

    pub async fn search(&self, project: &Project, name: &str, request: &SearchRequest) -> Result<SearchResult> {
        validate::k(request.k)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let collection = find(&tx, project, name, Lock::None).await?;
        validate::vector(&request.vector, Some(collection.spec.dims))?;
        validate::vector_for_metric(&request.vector, collection.spec.metric)?;
        let filter = match &request.filter {
            Some(text) => {
                let value: serde_json::Value = serde_json::from_str(text)
                    .map_err(|_| ApiError::new(code::INVALID_FILTER, "filter must be a JSON object"))?;
                let (_, parsed) = validate::parse_filter(&value)?;
                // Its parameters follow the vector ($1) and k ($2).
                Some(filter::compile(&parsed, 3))
            }
            None => None,
        };
        // Candidate list sizes: HNSW must look at >= k candidates; IVFFlat
        // probes sqrt(lists) lists (pgvector's guidance). Iterative scans keep
        // a filtered search from coming back short.
        let ef_search = request.k.max(40).to_string();
        let probes = ivfflat_probes(collection.ivf_lists).to_string();
        tx.execute(
            "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true),
                    set_config('ivfflat.probes', $2, true), set_config('ivfflat.iterative_scan', 'relaxed_order', true)",
            &[&ef_search, &probes],
        )
        .await
        .map_err(db_error)?;
        let sql = sql::search_sql(
            &collection.table(),
            &collection.spec,
            filter.as_ref().map(|f| f.sql.as_str()),
            request.include_values,
        );
        // The statements of unfiltered and plain-equality searches are few,
        // and cached per connection; a filter with operators has a statement
        // of its own shape, prepared for this search only (so that the cache
        // stays bounded whatever shapes clients send).
        let stmt = match &filter {
            Some(f) if f.sql != filter::CONTAINMENT && f.sql != "true" => tx.prepare(&sql).await,
            _ => tx.prepare_cached(&sql).await,
        }
        .map_err(query_error(name))?;
        let query = Vector::from(request.vector.clone());
        let k = i64::from(request.k);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&query, &k];
        if let Some(f) = &filter {
            params.extend(f.params.iter().map(|p| -> &(dyn ToSql + Sync) {
                match p {
                    filter::Param::Jsonb(v) => v,
                    filter::Param::Path(path) => path,
                    filter::Param::JsonbList(values) => values,
                    filter::Param::Text(text) => text,
                }
            }));
        }
        let rows = tx.query(&stmt, &params).await.map_err(query_error(name))?;
        tx.commit().await.map_err(db_error)?;
        // A vector stored before vectors were checked per metric (a zero
        // vector under cosine, say) gets no finite distance: it is left out,
        // so that no answer ever carries a NaN or infinite score.
        let mut hits: Vec<(f64, SearchHit)> = rows
            .iter()
            .filter_map(|row| {
                let distance: f64 = row.get(1);
                let score = collection.score(distance);
                if !score.is_finite() {
                    tracing::warn!(
                        collection = name,
                        id = row.get::<_, &str>(0),
                        "vector without a finite score skipped"
                    );
                    return None;
                }
                let with_metadata = request.include_metadata;
                let hit = SearchHit {
                    id: row.get(0),
                    score,
                    metadata: with_metadata.then(|| row.get::<_, serde_json::Value>(2).to_string()),
                    document: row.get::<_, Option<String>>(3).filter(|_| with_metadata),
                    source: row.get::<_, Option<String>>(4).filter(|_| with_metadata),
                    written_at_us: with_metadata.then(|| row.get::<_, i64>(5).max(0) as u64),
                    values: request.include_values.then(|| row.get::<_, Vector>(6).to_vec()),
                };
                Some((distance, hit))
            })
            .collect();
        // IVFFlat's iterative scan returns candidates in relaxed order.
        hits.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(SearchResult {
            hits: hits.into_iter().map(|(_, h)| h).collect(),
            version: collection.version as u64,
        })
    }
}

/// A record read as `id, {RECORD_COLUMNS}, embedding`.
fn record(row: &tokio_postgres::Row) -> VectorRecord {
    VectorRecord {
        id: row.get(0),
        metadata: row.get::<_, serde_json::Value>(1).to_string(),
        document: row.get(2),
        source: row.get(3),
        written_at_us: row.get::<_, i64>(4).max(0) as u64,
        values: row.get::<_, Vector>(5).to_vec(),
    }
}

/// The change a write that left `collection` at `version` made.
fn written(project: &Project, name: &str, collection: &Collection, version: i64) -> Change {
    Change::Written {
        project: project.id,
        name: name.to_string(),
        incarnation: collection.id as u64,
        version: version.max(0) as u64,
    }
}

/// Bumps a collection's version and adjusts its count, in the write's transaction.
async fn bump(tx: &deadpool_postgres::Transaction<'_>, collection: &Collection, added: i64) -> Result<(i64, i64)> {
    let row = tx
        .query_one(
            "UPDATE zerodb.collections SET version = version + 1, vector_count = vector_count + $2
             WHERE id = $1 RETURNING version, vector_count",
            &[&collection.id, &added],
        )
        .await
        .map_err(db_error)?;
    Ok((row.get(0), row.get(1)))
}
