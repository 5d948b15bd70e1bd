//! The SQL text for a collection's table, index and search: pure functions
//! of the collection's spec (and table name), so that the exact statements
//! are testable without a database.

use edge_core::model::*;

/// pgvector indexes `vector` up to 2000 dimensions and `halfvec` up to 4000.
pub(super) const VECTOR_INDEX_MAX_DIMS: u32 = 2000;
pub(super) const HALFVEC_INDEX_MAX_DIMS: u32 = 4000;

/// Whether the ANN index (and searches) use `halfvec`: past
/// [`VECTOR_INDEX_MAX_DIMS`], when the collection has an index at all.
fn searches_halfvec(spec: &CollectionSpec) -> bool {
    spec.dims > VECTOR_INDEX_MAX_DIMS && spec.index != IndexKind::None
}

/// The expression the ANN index is built on, and searches order by.
pub(super) fn indexed_column(spec: &CollectionSpec) -> String {
    if searches_halfvec(spec) {
        format!("(embedding::halfvec({}))", spec.dims)
    } else {
        "embedding".to_string()
    }
}

/// The query parameter `$n` cast to match [`indexed_column`].
pub(super) fn query_param(spec: &CollectionSpec, n: usize) -> String {
    if searches_halfvec(spec) {
        format!("${n}::vector::halfvec({})", spec.dims)
    } else {
        format!("${n}::vector")
    }
}

/// pgvector's distance between the indexed column and parameter `$param`.
pub(super) fn distance(spec: &CollectionSpec, param: usize) -> String {
    let op = match spec.metric {
        Metric::Cosine => "<=>",
        Metric::L2 => "<->",
        Metric::Dot => "<#>",
    };
    format!("{} {op} {}", indexed_column(spec), query_param(spec, param))
}

/// The operator class of the ANN index, e.g. `vector_cosine_ops` or
/// `halfvec_l2_ops` (the family is `halfvec` past [`VECTOR_INDEX_MAX_DIMS`]).
pub(super) fn opclass(spec: &CollectionSpec) -> String {
    let family = if spec.dims > VECTOR_INDEX_MAX_DIMS {
        "halfvec"
    } else {
        "vector"
    };
    let ops = match spec.metric {
        Metric::Cosine => "cosine",
        Metric::L2 => "l2",
        Metric::Dot => "ip",
    };
    format!("{family}_{ops}_ops")
}

/// `CREATE INDEX` named `name` on `table` for the spec's ANN index, with
/// `lists` IVFFlat lists; none when the spec has no index.
pub(super) fn index_ddl(
    table: &str,
    spec: &CollectionSpec,
    name: &str,
    concurrently: bool,
    lists: i32,
) -> Option<String> {
    let (method, with) = match spec.index {
        IndexKind::None => return None,
        IndexKind::Hnsw => ("hnsw", String::new()),
        IndexKind::Ivfflat => ("ivfflat", format!(" WITH (lists = {lists})")),
    };
    let concurrently = if concurrently { " CONCURRENTLY" } else { "" };
    Some(format!(
        "CREATE INDEX{concurrently} {name} ON {table} USING {method} ({} {}){with}",
        indexed_column(spec),
        opclass(spec)
    ))
}

/// A stored record's columns besides its id and embedding: metadata,
/// document, source, and write time in microseconds since the Unix epoch.
pub(super) const RECORD_COLUMNS: &str = "metadata, document, source, (extract(epoch from written_at) * 1000000)::int8";

/// The search statement over `table`: `$1` query vector, `$2` k, then the
/// parameters of `filter` (a condition over `metadata` compiled by
/// [`super::filter::compile`] with its parameters from `$3`). Rows come back
/// as (id, distance as float8, metadata, document, source, write time in
/// microseconds[, embedding]), nearest first.
pub(super) fn search_sql(table: &str, spec: &CollectionSpec, filter: Option<&str>, include_values: bool) -> String {
    let distance = distance(spec, 1);
    format!(
        "SELECT id, ({distance})::float8, {RECORD_COLUMNS}{values} FROM {table}{filter} ORDER BY {distance} LIMIT $2",
        values = if include_values { ", embedding" } else { "" },
        filter = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dims: u32, metric: Metric, index: IndexKind) -> CollectionSpec {
        CollectionSpec {
            dims,
            metric,
            index,
            cache_similarity: 1.0,
            model: None,
        }
    }

    #[test]
    fn hnsw_cosine_1536() {
        let s = spec(1536, Metric::Cosine, IndexKind::Hnsw);
        assert_eq!(
            index_ddl("zerodb_data.c7", &s, "c7_ann", false, 1).unwrap(),
            "CREATE INDEX c7_ann ON zerodb_data.c7 USING hnsw (embedding vector_cosine_ops)"
        );
        assert_eq!(
            search_sql("zerodb_data.c7", &s, None, false),
            "SELECT id, (embedding <=> $1::vector)::float8, metadata, document, source, \
             (extract(epoch from written_at) * 1000000)::int8 FROM zerodb_data.c7 \
             ORDER BY embedding <=> $1::vector LIMIT $2"
        );
    }

    #[test]
    fn halfvec_past_2000_dims() {
        let s = spec(3072, Metric::Dot, IndexKind::Hnsw);
        assert_eq!(opclass(&s), "halfvec_ip_ops");
        assert_eq!(
            index_ddl("zerodb_data.c8", &s, "c8_ann", false, 1).unwrap(),
            "CREATE INDEX c8_ann ON zerodb_data.c8 USING hnsw ((embedding::halfvec(3072)) halfvec_ip_ops)"
        );
        assert_eq!(
            search_sql("zerodb_data.c8", &s, None, true),
            "SELECT id, ((embedding::halfvec(3072)) <#> $1::vector::halfvec(3072))::float8, metadata, document, source, \
             (extract(epoch from written_at) * 1000000)::int8, embedding \
             FROM zerodb_data.c8 ORDER BY (embedding::halfvec(3072)) <#> $1::vector::halfvec(3072) LIMIT $2"
        );
        // Exactly 2000 stays `vector`; with no index, so does any size.
        assert_eq!(
            opclass(&spec(2000, Metric::Cosine, IndexKind::Hnsw)),
            "vector_cosine_ops"
        );
        let none = spec(3072, Metric::L2, IndexKind::None);
        assert_eq!(index_ddl("t", &none, "i", false, 1), None);
        assert_eq!(distance(&none, 1), "embedding <-> $1::vector");
    }

    #[test]
    fn ivfflat_l2_concurrently() {
        let s = spec(128, Metric::L2, IndexKind::Ivfflat);
        assert_eq!(
            index_ddl("zerodb_data.c9", &s, "c9_ann_new", true, 64).unwrap(),
            "CREATE INDEX CONCURRENTLY c9_ann_new ON zerodb_data.c9 USING ivfflat (embedding vector_l2_ops) \
             WITH (lists = 64)"
        );
    }

    #[test]
    fn filtered_search() {
        let s = spec(4, Metric::L2, IndexKind::Ivfflat);
        assert_eq!(
            search_sql("zerodb_data.c9", &s, Some("metadata @> $3"), false),
            "SELECT id, (embedding <-> $1::vector)::float8, metadata, document, source, \
             (extract(epoch from written_at) * 1000000)::int8 FROM zerodb_data.c9 \
             WHERE metadata @> $3 ORDER BY embedding <-> $1::vector LIMIT $2"
        );
    }
}
