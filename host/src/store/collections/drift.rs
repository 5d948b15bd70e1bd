//! Per-collection schema drift: what `zerodb.collections` says exists
//! checked against the catalog.

use super::{Collection, COLLECTION_COLUMNS};
use crate::store::{db_error, Result, Store};
use edge_core::model::IndexKind;

/// Per-collection drift: every collection's table must exist with its
/// `vector(dims)` column and, when it has one, its ANN index.
pub(in crate::store) async fn drift(store: &Store) -> Result<Vec<String>> {
    let client = store.client().await?;
    let rows = client
        .query(
            &format!("SELECT {COLLECTION_COLUMNS} FROM zerodb.collections ORDER BY id"),
            &[],
        )
        .await
        .map_err(db_error)?;
    let mut drift = Vec::new();
    for row in &rows {
        let c = Collection::from_row(row)?;
        let table = c.table();
        let column_type: Option<String> = client
            .query_opt(
                "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                 WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding' AND NOT a.attisdropped",
                &[&table],
            )
            .await
            .map_err(db_error)?
            .map(|r| r.get(0));
        let expected = format!("vector({})", c.spec.dims);
        if column_type.as_deref() != Some(expected.as_str()) {
            drift.push(format!(
                "- collection {:?} (table {table}): embedding {expected}, found {}",
                c.name,
                column_type.unwrap_or_else(|| "no such column".into())
            ));
        }
        if c.spec.index != IndexKind::None {
            let index = format!("zerodb_data.{}", c.index_name());
            let exists: bool = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&index])
                .await
                .map_err(db_error)?
                .get(0);
            if !exists {
                drift.push(format!("- collection {:?}: index {index} is missing", c.name));
            }
        }
    }
    Ok(drift)
}
