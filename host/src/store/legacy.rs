//! Converts a legacy embedding column (`real[]` / `double precision[]`, the
//! old `ARRAY(Float)` layout) to a pgvector `vector(dims)` column in place.
//!
//! It counts the rows before, converts every row into a new column, counts
//! again, and swaps the columns only when every row converted, all in one
//! transaction. Rows that cannot convert (NULL, NaN/Infinity, a different
//! length) make it refuse and change nothing.

use super::{db_error, Store};
use anyhow::{bail, Context};

/// What a conversion found and did.
#[derive(Debug, PartialEq, Eq)]
pub struct LegacyReport {
    pub rows_before: i64,
    pub converted: i64,
    pub rows_after: i64,
    pub dims: i32,
}

/// Quotes an identifier for SQL (`"` doubled), so any table or column name
/// an operator passes is spliced safely.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table` or `table` (in `public`), each part quoted.
fn qualified(table: &str) -> (String, String, String) {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    (
        schema.to_string(),
        name.to_string(),
        format!("{}.{}", quote_ident(schema), quote_ident(name)),
    )
}

impl Store {
    pub async fn convert_legacy(&self, table: &str, column: &str) -> anyhow::Result<LegacyReport> {
        let (schema, name, qtable) = qualified(table);
        let qcol = quote_ident(column);
        let mut client = self.client().await?;
        let udt: Option<String> = client
            .query_opt(
                "SELECT udt_name FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
                &[&schema, &name, &column],
            )
            .await?
            .map(|r| r.get(0));
        match udt.as_deref() {
            Some("_float4" | "_float8") => {}
            Some(other) => {
                bail!("{table}.{column} is {other}; only real[] and double precision[] convert")
            }
            None => bail!("no column {column} in table {table}"),
        }

        let tx = client.transaction().await.map_err(db_error)?;
        tx.batch_execute(&format!("LOCK TABLE {qtable} IN ACCESS EXCLUSIVE MODE"))
            .await?;
        let rows_before: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {qtable}"), &[])
            .await?
            .get(0);
        if rows_before == 0 {
            bail!("{table} has no rows; nothing to convert");
        }
        let dims: i32 = tx
            .query_one(
                &format!("SELECT coalesce(mode() WITHIN GROUP (ORDER BY cardinality({qcol})), 0)::int FROM {qtable}"),
                &[],
            )
            .await?
            .get(0);
        if !(1..=16000).contains(&dims) {
            bail!("{table}.{column}: embeddings of {dims} dimensions cannot become vector(dims)");
        }
        // Rows that would not convert: NULL, wrong length, NULL or non-finite elements.
        let bad: i64 = tx
            .query_one(
                &format!(
                    "SELECT count(*) FROM {qtable} WHERE {qcol} IS NULL OR cardinality({qcol}) <> $1
                     OR EXISTS (SELECT 1 FROM unnest({qcol}) x
                                WHERE x IS NULL OR x = 'NaN' OR x IN ('Infinity', '-Infinity'))"
                ),
                &[&dims],
            )
            .await?
            .get(0);
        if bad > 0 {
            bail!(
                "refusing to convert {table}.{column}: {bad} of {rows_before} rows are NULL, not {dims} \
                 long, or hold NULL/NaN/Infinity; nothing was changed"
            );
        }
        let new_col = quote_ident(&format!("{column}__vector"));
        tx.batch_execute(&format!(
            "ALTER TABLE {qtable} ADD COLUMN {new_col} vector({dims});
             UPDATE {qtable} SET {new_col} = {qcol}::real[]::vector({dims});"
        ))
        .await
        .context("converting rows")?;
        let converted: i64 = tx
            .query_one(&format!("SELECT count({new_col}) FROM {qtable}"), &[])
            .await?
            .get(0);
        let rows_after: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {qtable}"), &[])
            .await?
            .get(0);
        if converted != rows_before || rows_after != rows_before {
            // Dropping the transaction rolls everything back.
            bail!("refusing to drop {table}.{column}: {rows_before} rows before, {converted} converted, {rows_after} after");
        }
        tx.batch_execute(&format!(
            "ALTER TABLE {qtable} DROP COLUMN {qcol};
             ALTER TABLE {qtable} RENAME COLUMN {new_col} TO {qcol};
             ALTER TABLE {qtable} ALTER COLUMN {qcol} SET NOT NULL;"
        ))
        .await?;
        tx.commit().await?;
        Ok(LegacyReport {
            rows_before,
            converted,
            rows_after,
            dims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("legacy.emb").2, "\"legacy\".\"emb\"");
        assert_eq!(qualified("x; drop table y").2, "\"public\".\"x; drop table y\"");
    }
}
