//! IVFFlat upkeep: how many lists an index gets, how many a search probes,
//! and the background rebuild as a collection grows.

use super::{Collection, COLLECTION_COLUMNS};
use crate::store::{db_error, Result, Store};
use edge_core::model::IndexKind;

/// pgvector's guidance: IVFFlat lists ≈ rows / 1000 (up to 1M rows).
const ROWS_PER_IVF_LIST: i64 = 1000;
const MAX_IVF_LISTS: i64 = 4096;

/// IVFFlat lists for `rows`: rows/1000 rounded down to a power of two, so an
/// index is rebuilt only each time the collection doubles.
pub(super) fn ivf_lists_for(rows: i64) -> i32 {
    let lists = (rows / ROWS_PER_IVF_LIST).clamp(1, MAX_IVF_LISTS) as u64;
    (1u64 << lists.ilog2()) as i32
}

impl Store {
    /// Rebuilds an IVFFlat index in the background each time the collection
    /// doubles: an IVFFlat index built over few rows clusters badly.
    pub(super) fn maybe_rebuild_ivfflat(&self, collection: &Collection, count: i64) {
        if collection.spec.index != IndexKind::Ivfflat || ivf_lists_for(count) <= collection.ivf_lists {
            return;
        }
        let store = self.clone();
        let collection = collection.clone();
        tokio::spawn(async move {
            if let Err(e) = store.rebuild_ivfflat(collection.id).await {
                tracing::warn!(collection = collection.id, error = %e, "IVFFlat rebuild failed");
            }
        });
    }

    async fn rebuild_ivfflat(&self, collection_id: i64) -> Result<()> {
        let mut client = self.client().await?;
        // One rebuild per collection at a time, across hosts; whoever holds
        // the lock rebuilds until the index fits the current row count.
        let key = collection_id as i32;
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock(7201, $1::int)", &[&key])
            .await
            .map_err(db_error)?
            .get(0);
        if !locked {
            return Ok(());
        }
        let result = async {
            loop {
                let row = client
                    .query_opt(
                        &format!("SELECT {COLLECTION_COLUMNS} FROM zerodb.collections WHERE id = $1"),
                        &[&collection_id],
                    )
                    .await
                    .map_err(db_error)?;
                let Some(row) = row else { return Ok(()) };
                let collection = Collection::from_row(&row)?;
                let lists = ivf_lists_for(collection.count);
                if lists <= collection.ivf_lists {
                    return Ok(());
                }
                let temp = format!("c{}_ann_new", collection.id);
                let ddl = collection.index_ddl(&temp, true, lists).unwrap_or_default();
                client
                    .batch_execute(&format!("DROP INDEX IF EXISTS zerodb_data.{temp}"))
                    .await
                    .map_err(db_error)?;
                client.batch_execute(&ddl).await.map_err(db_error)?;
                let tx = client.transaction().await.map_err(db_error)?;
                // Collection row first, then the table: the order writes take
                // their locks in, so a swap cannot deadlock with an upsert.
                tx.batch_execute(&format!(
                    "UPDATE zerodb.collections SET ivf_lists = {lists} WHERE id = {id};
                     DROP INDEX zerodb_data.{old}; ALTER INDEX zerodb_data.{temp} RENAME TO {old};",
                    old = collection.index_name(),
                    id = collection.id
                ))
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                tracing::info!(
                    collection = collection.id,
                    lists,
                    rows = collection.count,
                    "rebuilt IVFFlat index"
                );
            }
        }
        .await;
        let _ = client
            .execute("SELECT pg_advisory_unlock(7201, $1::int)", &[&key])
            .await;
        result
    }
}

/// Lists an IVFFlat search probes: the square root of the index's lists,
/// rounded up (pgvector's guidance), at least 1.
pub(super) fn ivfflat_probes(lists: i32) -> i64 {
    (lists.max(1) as f64).sqrt().ceil() as i64
}

#[cfg(test)]
mod probe_tests {
    #[test]
    pub(super) fn ivfflat_probes_the_square_root_of_its_lists() {
        let probes: Vec<i64> = [0, 1, 4, 5, 16, 100, 128].map(super::ivfflat_probes).to_vec();
        assert_eq!(probes, [1, 1, 2, 3, 4, 10, 12]);
    }
}
