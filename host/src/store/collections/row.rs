//! A collection's row in `zerodb.collections`, read strictly: a metric or
//! index kind this build does not know is an error, never a guess.

use super::sql;
use crate::store::{table_name, Result};
use edge_core::error::{code, ApiError};
use edge_core::model::*;

/// The columns [`Collection::from_row`] reads, in `SELECT` order.
pub(super) const COLLECTION_COLUMNS: &str =
    "id, name, dims, metric, index_kind, version, vector_count, ivf_lists, cache_similarity, model";

/// A collection as stored in `zerodb.collections`.
#[derive(Clone, Debug)]
pub struct Collection {
    pub id: i64,
    pub name: String,
    pub spec: CollectionSpec,
    pub count: i64,
    pub version: i64,
    pub ivf_lists: i32,
}

impl Collection {
    pub(super) fn from_row(row: &tokio_postgres::Row) -> Result<Collection> {
        // A name this build does not know (a row written by a newer
        // version) is refused, never read as some other metric or index.
        let unknown = |what: &str, name: &str| {
            ApiError::new(
                code::CORRUPT_COLLECTION,
                format!(
                    "collection {:?} has the {what} {name:?}, which this version does not know",
                    row.get::<_, String>("name")
                ),
            )
        };
        let metric_name: &str = row.get("metric");
        let metric = Metric::from_name(metric_name).ok_or_else(|| unknown("metric", metric_name))?;
        let index_name: &str = row.get("index_kind");
        let index = IndexKind::from_name(index_name).ok_or_else(|| unknown("index kind", index_name))?;
        Ok(Collection {
            id: row.get("id"),
            name: row.get("name"),
            spec: CollectionSpec {
                dims: row.get::<_, i32>("dims") as u32,
                metric,
                index,
                cache_similarity: row.get("cache_similarity"),
                model: row.get("model"),
            },
            count: row.get("vector_count"),
            version: row.get("version"),
            ivf_lists: row.get("ivf_lists"),
        })
    }

    pub fn info(&self) -> CollectionInfo {
        CollectionInfo {
            name: self.name.clone(),
            spec: self.spec.clone(),
            count: self.count.max(0) as u64,
            version: self.version.max(0) as u64,
        }
    }

    pub(super) fn table(&self) -> String {
        table_name(self.id)
    }

    /// The score clients see for a pgvector distance (see `zerodb:edge/origin.metric`).
    pub(super) fn score(&self, distance: f64) -> f32 {
        (match self.spec.metric {
            Metric::Cosine => 1.0 - distance,
            Metric::L2 => distance,
            Metric::Dot => -distance,
        }) as f32
    }

    pub(super) fn index_name(&self) -> String {
        format!("c{}_ann", self.id)
    }

    /// `CREATE INDEX` for the collection's ANN index, if it has one.
    pub(super) fn index_ddl(&self, name: &str, concurrently: bool, lists: i32) -> Option<String> {
        sql::index_ddl(&self.table(), &self.spec, name, concurrently, lists)
    }
}
