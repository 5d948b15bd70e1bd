//! `…/database/vectors`: upsert one or a batch, search, list, stats, get
//! and delete, over the namespace's collection.

use super::error::{At, Result};
use super::wire::{self, Search, VectorIn};
use super::{deleted, ok, Context, DEFAULT_NAMESPACE, DIMENSIONS};
use crate::api;
use crate::error::{code, ApiError};
use crate::model::*;
use crate::origin::Origin;
use crate::search::{self, Freshness};
use crate::validate::{self, MAX_BATCH};
use crate::{CacheStatus, Response};
use serde_json::json;
use std::time::Instant;

/// Most hits one search answers (ZeroDB's limit).
const MAX_LIMIT: i64 = 100;

/// The namespace named, or the default; 422 when it cannot be a collection name.
fn namespace(name: Option<String>, loc: &[&str]) -> Result<String> {
    let name = name.unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    validate::collection_name(&name).at(loc)?;
    Ok(name)
}

/// A random UUID (version 4), the id ZeroDB gives a vector sent without one.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One vector to upsert, validated, with its namespace.
fn record(item: VectorIn) -> Result<(String, VectorRecord)> {
    let namespace = namespace(item.namespace, &["body", "namespace"])?;
    let id = item.vector_id.unwrap_or_else(new_id);
    validate::id("vector_id", &id).at(&["body", "vector_id"])?;
    let values = item.vector_embedding;
    if !DIMENSIONS.contains(&values.len()) {
        return Err(ApiError::new(
            code::INVALID_DIMS,
            format!(
                "vector_embedding has {} dimensions; ZeroDB stores {DIMENSIONS:?}",
                values.len()
            ),
        ))
        .at(&["body", "vector_embedding"]);
    }
    validate::vector(&values, None).at(&["body", "vector_embedding"])?;
    validate::vector_for_metric(&values, Metric::Cosine).at(&["body", "vector_embedding"])?;
    let metadata = match &item.vector_metadata {
        Some(serde_json::Value::Null) | None => "{}".to_string(),
        Some(m) => validate::metadata(m).at(&["body", "vector_metadata"])?,
    };
    for (name, text) in [("document", &item.document), ("source", &item.source)] {
        if let Some(text) = text {
            validate::text(name, text, validate::MAX_CONTENT_BYTES).at(&["body", name])?;
        }
    }
    let mut record = VectorRecord::new(id, values, metadata);
    record.document = item.document;
    record.source = item.source;
    Ok((namespace, record))
}

/// Stores `records` (all of one dimension) in `namespace`, creating it on
/// its first write; updates the cache as the v1 API's writes do. Answers
/// the records as stored (with the write's time).
async fn write<S: Origin>(
    ctx: &mut Context<'_, S>,
    namespace: &str,
    mut records: Vec<VectorRecord>,
) -> Result<Vec<VectorRecord>> {
    let first = ctx.served.origin(ctx.session.upsert(namespace, &records)).await;
    let result = match first {
        Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => {
            let spec = CollectionSpec {
                dims: records[0].values.len() as u32,
                metric: Metric::Cosine,
                index: IndexKind::Hnsw,
                cache_similarity: 1.0,
            };
            ctx.served
                .origin(ctx.session.create_collection(namespace, spec))
                .await
                .at(&["body", "namespace"])?;
            ctx.served.origin(ctx.session.upsert(namespace, &records)).await?
        }
        other => other?,
    };
    for record in &mut records {
        record.written_at_us = result.at_us;
    }
    let coll = ctx.coll(namespace);
    ctx.edge
        .cache
        .borrow_mut()
        .apply_write(&coll, &records, &[], result.version);
    Ok(records)
}

/// `POST …/vectors/upsert`: one vector; answers it as stored.
pub async fn upsert<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let item: VectorIn = validate::json_body(body)?;
    let (namespace, record) = record(item)?;
    let stored = write(ctx, &namespace, vec![record]).await?;
    ok(wire::vector(&ctx.project, &namespace, &stored[0], true))
}

/// The items of a batch body, each still JSON text.
fn batch_items(body: &[u8]) -> Result<Vec<Box<serde_json::value::RawValue>>> {
    #[derive(serde::Deserialize)]
    struct Wrapped {
        vectors: Vec<Box<serde_json::value::RawValue>>,
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    Ok(match first {
        Some(b'{') => validate::json_body::<Wrapped>(body)?.vectors,
        _ => validate::json_body(body)?,
    })
}

/// `POST …/vectors/upsert-batch`: up to 1000 vectors, a bare array or
/// `{"vectors": [...]}`. Each invalid item is counted and described in
/// `errors`; the valid ones are stored, one write per namespace.
pub async fn upsert_batch<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let start = Instant::now();
    let items = batch_items(body)?;
    if items.is_empty() {
        return Err(ApiError::new(code::EMPTY_BATCH, "the batch holds no vectors").into());
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::new(
            code::BATCH_TOO_LARGE,
            format!("{} vectors in one batch; at most {MAX_BATCH} are allowed", items.len()),
        )
        .into());
    }
    let mut errors = Vec::new();
    // Namespaces in the order first seen, each with its records.
    let mut groups: Vec<(String, Vec<VectorRecord>)> = Vec::new();
    for (at, item) in items.iter().enumerate() {
        let parsed = validate::json_body::<VectorIn>(item.get().as_bytes()).map_err(Into::into);
        match parsed.and_then(record) {
            Ok((namespace, record)) => match groups.iter_mut().find(|(n, _)| *n == namespace) {
                Some((_, records)) => records.push(record),
                None => groups.push((namespace, vec![record])),
            },
            Err(failure) => errors.push(format!("vector {at}: {}", failure.error.message)),
        }
    }
    let mut success_count = 0;
    for (namespace, records) in groups {
        // One dimension per write: the first record's decides the group's
        // (the namespace's own is checked by the origin).
        let dims = records[0].values.len();
        let (same, other): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.values.len() == dims);
        for r in &other {
            errors.push(format!(
                "vector {:?}: {} dimensions in a batch whose vectors for namespace {namespace:?} have {dims}",
                r.id,
                r.values.len()
            ));
        }
        let count = same.len();
        match write(ctx, &namespace, same).await {
            Ok(_) => success_count += count,
            Err(failure) => errors.push(format!(
                "{count} vectors of namespace {namespace:?}: {}",
                failure.error.message
            )),
        }
    }
    ok(json!({
        "success_count": success_count,
        "error_count": items.len() - success_count,
        "errors": errors,
        "total_time_ms": start.elapsed().as_secs_f64() * 1e3,
    }))
}

/// A limit between 1 and `max` (default `default`), or 422 at `loc`.
pub(super) fn limit(given: Option<i64>, default: i64, max: i64, loc: &[&str]) -> Result<u32> {
    let limit = given.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::new(
            code::INVALID_LIMIT,
            format!("limit must be from 1 to {max}"),
        ))
        .at(loc);
    }
    Ok(limit as u32)
}

/// `POST …/vectors/search`: cosine search of one namespace, or of every
/// namespace of the query's dimension when none is named; hits best first,
/// without those under `threshold`. Each namespace's search goes through
/// the edge's cache like a v1 search.
pub async fn search<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let start = Instant::now();
    let search: Search = validate::json_body(body)?;
    validate::vector(&search.query_vector, None).at(&["body", "query_vector"])?;
    let limit = limit(search.limit, 10, MAX_LIMIT, &["body", "limit"])?;
    // No threshold keeps every hit, however dissimilar (cosine can be negative).
    let threshold = search.threshold.unwrap_or(f32::NEG_INFINITY);
    if search.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return Err(ApiError::new(code::INVALID_REQUEST, "threshold must be from 0 to 1")).at(&["body", "threshold"]);
    }
    let filter = match &search.metadata_filter {
        Some(serde_json::Value::Null) | None => None,
        Some(filter) => Some(validate::filter(filter).at(&["body", "metadata_filter"])?),
    };
    let namespaces = match search.namespace {
        Some(name) => vec![namespace(Some(name), &["body", "namespace"])?],
        None => {
            let all = ctx.served.origin(ctx.session.list_collections()).await?;
            all.into_iter()
                .filter(|c| c.spec.dims as usize == search.query_vector.len() && c.spec.metric == Metric::Cosine)
                .map(|c| c.name)
                .collect()
        }
    };
    let request = SearchRequest {
        vector: search.query_vector,
        k: limit,
        filter,
        include_values: true,
        include_metadata: true,
    };
    let mut hits = Vec::new();
    let mut status = None;
    for namespace in namespaces {
        let coll = ctx.coll(&namespace);
        let freshness = Freshness::of(&ctx.session, &ctx.edge.cache, &coll, None, ctx.served).await?;
        let answer = search::run(ctx.edge, &ctx.session, &coll, &request, freshness, None, ctx.served).await;
        // The request's status is its worst namespace's: a hit only when every one was.
        status = Some(match (status, ctx.served.cache) {
            (None, now) | (Some(CacheStatus::Hit), now) => now,
            (Some(before), _) => before,
        });
        match answer {
            Ok((result, _)) => hits.extend(result.hits.into_iter().map(|hit| (namespace.clone(), hit))),
            Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => {}
            Err(e) => return Err(e).at(&["body", "query_vector"]),
        }
    }
    ctx.served.cache = status.unwrap_or(CacheStatus::Bypass);
    hits.retain(|(_, hit)| hit.score >= threshold);
    hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    hits.truncate(limit as usize);
    let vectors: Vec<_> = hits
        .iter()
        .map(|(namespace, hit)| wire::hit(&ctx.project, namespace, hit))
        .collect();
    ok(json!({
        "vectors": vectors,
        "total_count": vectors.len(),
        "search_time_ms": start.elapsed().as_secs_f64() * 1e3,
    }))
}

/// `GET …/vectors?namespace&offset&limit&detailed`: a bare array of the
/// namespace's vectors in id order, embeddings only when `detailed=true`.
pub async fn list<S: Origin>(ctx: &mut Context<'_, S>, query: &dyn Fn(&str) -> Option<String>) -> Result<Response> {
    let namespace = namespace(query("namespace"), &["query", "namespace"])?;
    let number = |name: &str| -> Result<Option<i64>> {
        query(name)
            .map(|v| v.parse::<i64>())
            .transpose()
            .map_err(|_| ApiError::new(code::INVALID_REQUEST, format!("{name} must be an integer")))
            .at(&["query", name])
    };
    let limit = limit(number("limit")?, 100, MAX_BATCH as i64, &["query", "limit"])? as usize;
    let offset = number("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::new(code::INVALID_REQUEST, "offset must not be negative")).at(&["query", "offset"]);
    }
    let detailed = query("detailed").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut records = Vec::new();
    let mut after = None;
    let wanted = offset as usize + limit;
    loop {
        let page = ctx
            .served
            .origin(ctx.session.list_vectors(&namespace, after.as_deref(), MAX_BATCH as u32))
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => break,
            Err(e) => return Err(e.into()),
        };
        records.extend(page.records);
        match page.next {
            Some(next) if records.len() < wanted => after = Some(next),
            _ => break,
        }
    }
    let out: Vec<_> = records
        .iter()
        .skip(offset as usize)
        .take(limit)
        .map(|r| wire::vector(&ctx.project, &namespace, r, detailed))
        .collect();
    ok(json!(out))
}

/// `GET …/vectors/stats?namespace`: counts over the project's namespaces
/// (or the one named).
pub async fn stats<S: Origin>(ctx: &mut Context<'_, S>, query: &dyn Fn(&str) -> Option<String>) -> Result<Response> {
    let only = query("namespace");
    let all = ctx.served.origin(ctx.session.list_collections()).await?;
    let chosen: Vec<CollectionInfo> = all
        .into_iter()
        .filter(|c| only.as_ref().is_none_or(|name| *name == c.name))
        .collect();
    let total: u64 = chosen.iter().map(|c| c.count).sum();
    let dims_total: u64 = chosen.iter().map(|c| c.count * u64::from(c.spec.dims)).sum();
    let avg_dimensions = if total == 0 {
        0.0
    } else {
        dims_total as f64 / total as f64
    };
    let namespace_stats: Vec<_> = chosen
        .iter()
        .map(|c| json!({"namespace": c.name, "vector_count": c.count, "dimensions": c.spec.dims}))
        .collect();
    ok(json!({
        "total_vectors": total,
        "namespaces": chosen.iter().map(|c| &c.name).collect::<Vec<_>>(),
        "namespace_count": chosen.len(),
        "avg_dimensions": avg_dimensions,
        // float4 values: 4 bytes a dimension.
        "total_size_mb": (dims_total * 4) as f64 / (1024.0 * 1024.0),
        "namespace_stats": namespace_stats,
    }))
}

/// `GET …/vectors/{vector_id}?namespace`: through the cache, as a v1 get.
pub async fn get<S: Origin>(
    ctx: &mut Context<'_, S>,
    id: &str,
    query: &dyn Fn(&str) -> Option<String>,
) -> Result<Response> {
    let namespace = namespace(query("namespace"), &["query", "namespace"])?;
    validate::id("vector_id", id).at(&["path", "vector_id"])?;
    let coll = ctx.coll(&namespace);
    let record = api::read_vector(ctx.edge, &ctx.session, &coll, id, None, ctx.served)
        .await
        .map_err(vector_not_found)?;
    ok(wire::vector(&ctx.project, &namespace, &record, true))
}

/// `DELETE …/vectors/{vector_id}?namespace`.
pub async fn delete<S: Origin>(
    ctx: &mut Context<'_, S>,
    id: &str,
    query: &dyn Fn(&str) -> Option<String>,
) -> Result<Response> {
    let namespace = namespace(query("namespace"), &["query", "namespace"])?;
    validate::id("vector_id", id).at(&["path", "vector_id"])?;
    let result = ctx
        .served
        .origin(ctx.session.delete(&namespace, id))
        .await
        .map_err(vector_not_found)?;
    if result.affected == 0 {
        return Err(vector_not_found(ApiError::new(code::VECTOR_NOT_FOUND, "")).into());
    }
    let coll = ctx.coll(&namespace);
    ctx.edge
        .cache
        .borrow_mut()
        .apply_write(&coll, &[], &[id], result.version);
    deleted(json!({"vector_id": id, "namespace": namespace}))
}

/// A missing namespace or vector, as ZeroDB words it.
fn vector_not_found(e: ApiError) -> ApiError {
    if e.code == code::COLLECTION_NOT_FOUND.name || e.code == code::VECTOR_NOT_FOUND.name {
        ApiError::new(code::VECTOR_NOT_FOUND, "Vector not found")
    } else {
        e
    }
}
