//! `…/database/vectors`: upsert one or a batch, search, list, stats, get
//! and delete, over the namespace's collection.

use super::error::{At, Result};
use super::params::{limit, namespace, Query};
use super::wire::{self, Search, VectorIn};
use super::{deleted, ok, ok_typed, Context, DIMENSIONS};
use crate::api;
use crate::cache::{BodyKey, CollKey};
use crate::error::{code, ApiError, ErrorKind};
use crate::model::*;
use crate::origin::Origin;
use crate::search::{self, Freshness};
use crate::validate::{self, MAX_BATCH};
use crate::{CacheStatus, Response};
use serde_json::json;
use std::time::Instant;

/// Most hits one search answers (ZeroDB's limit).
const MAX_LIMIT: i64 = 100;

/// Most namespaces a search that names none goes through; past it, the
/// client must name one.
const MAX_NAMESPACES_SEARCHED: usize = 100;

/// Largest `offset` of a list: each listed page is an origin call.
const MAX_OFFSET: u64 = 100_000;

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
    let metadata = validate::optional_metadata(item.vector_metadata.as_ref()).at(&["body", "vector_metadata"])?;
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
/// its first write (bound to `model` when the vectors are that model's);
/// updates the cache as the v1 API's writes do. Answers the write's time.
pub(super) async fn write<S: Origin>(
    ctx: &mut Context<'_, S>,
    namespace: &str,
    records: Vec<VectorRecord>,
    model: Option<&str>,
) -> Result<u64> {
    let first = ctx.served.origin(ctx.session.upsert(namespace, &records)).await;
    let result = match first {
        Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => {
            let spec = CollectionSpec {
                dims: records[0].values.len() as u32,
                metric: Metric::Cosine,
                index: IndexKind::Hnsw,
                cache_similarity: 1.0,
                model: model.map(str::to_string),
            };
            // A concurrent first write may have created it meanwhile (409
            // when with another spec): the upsert then says why not a
            // vector of another dimension, and a text of another model is
            // refused here.
            let created = ctx.served.origin(ctx.session.create_collection(namespace, spec)).await;
            match created {
                Err(e) if e.kind != ErrorKind::Conflict => return Err(e).at(&["body", "namespace"]),
                Err(_) if model.is_some() => {
                    let info = ctx.served.origin(ctx.session.describe_collection(namespace)).await?;
                    if info.spec.model.as_deref() != model {
                        return Err(ApiError::new(
                            code::MODEL_MISMATCH,
                            format!("namespace {namespace:?} was just made for other vectors than model {model:?}'s"),
                        ))
                        .at(&["body", "namespace"]);
                    }
                    ctx.served.origin(ctx.session.upsert(namespace, &records)).await?
                }
                _ => ctx.served.origin(ctx.session.upsert(namespace, &records)).await?,
            }
        }
        other => other?,
    };
    let coll = ctx.coll(namespace);
    ctx.edge.cache.borrow_mut().apply_upsert(&coll, records, &result);
    Ok(result.at_us)
}

/// `POST …/vectors/upsert`: one vector; answers it as stored.
pub async fn upsert<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let item: VectorIn = validate::json_body(body)?;
    let (namespace, mut record) = record(item)?;
    record.written_at_us = write(ctx, &namespace, vec![record.clone()], None).await?;
    ok_typed(&wire::vector(&ctx.project, &namespace, &record, true))
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
    let mut unavailable = None;
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
        match write(ctx, &namespace, same, None).await {
            Ok(_) => success_count += count,
            Err(failure) => {
                errors.push(format!(
                    "{count} vectors of namespace {namespace:?}: {}",
                    failure.error.message
                ));
                if failure.error.kind == ErrorKind::Unavailable {
                    unavailable = Some(failure);
                }
            }
        }
    }
    // Nothing stored because the origin is down: a 503 the client retries,
    // not a 200 listing errors.
    if let (0, Some(failure)) = (success_count, unavailable) {
        return Err(failure);
    }
    ok(json!({
        "success_count": success_count,
        "error_count": items.len() - success_count,
        "errors": errors,
        "total_time_ms": start.elapsed().as_secs_f64() * 1e3,
    }))
}

/// `POST …/vectors/search`: cosine search of one namespace, or of every
/// cosine namespace of the query's dimension when none is named (at most
/// [`MAX_NAMESPACES_SEARCHED`]); hits best first, without those under
/// `threshold`. Each namespace's search goes through the edge's cache like a
/// v1 search, at least at the `x-zerodb-min-version` asked for. A named
/// namespace that is not cosine (made through the v1 API) is 422.
pub async fn search<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let start = Instant::now();
    // A search of a named namespace with the same bytes as one answered
    // before is answered from the cache without parsing its vector, as a
    // v1 search is (the body was validated when its answer was stored).
    let named: wire::Named = validate::json_body(body)?;
    let named = match named.namespace {
        Some(name) => Some((namespace(Some(name), &["body", "namespace"])?, named.threshold)),
        None => None,
    };
    let body_key = BodyKey::of(body);
    let mut first_freshness = None;
    if let Some((name, threshold)) = &named {
        let coll = ctx.coll(name);
        let freshness = Freshness::of(&ctx.session, &ctx.edge.cache, &coll, ctx.min_version, ctx.served).await?;
        let replayed = match freshness {
            Freshness::Current(now) => ctx.edge.cache.borrow_mut().search_by_body(&coll, body_key, now),
            _ => None,
        };
        if let Some(result) = replayed {
            cosine_only(ctx, &coll, freshness)?;
            ctx.served.cache = CacheStatus::Hit;
            let threshold = threshold.unwrap_or(f32::NEG_INFINITY);
            let hits = result.hits.into_iter().filter(|hit| hit.score >= threshold);
            return answer(ctx, hits.map(|hit| (name.clone(), hit)).collect(), start);
        }
        first_freshness = Some(freshness);
    }
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
    // Only a named namespace's answer is kept under its body's bytes.
    let replay = named.as_ref().map(|_| body_key);
    let namespaces = match search.namespace {
        // The same name the first look at the body read.
        Some(name) => vec![namespace(Some(name), &["body", "namespace"])?],
        None => {
            let all = ctx.served.origin(ctx.session.list_collections()).await?;
            let names: Vec<String> = all
                .into_iter()
                .filter(|c| c.spec.dims as usize == search.query_vector.len() && c.spec.metric == Metric::Cosine)
                .filter(|c| !c.name.starts_with(crate::validate::RESERVED_PREFIX))
                .map(|c| c.name)
                .collect();
            if names.len() > MAX_NAMESPACES_SEARCHED {
                return Err(ApiError::new(
                    code::INVALID_REQUEST,
                    format!(
                        "{} namespaces hold vectors of this dimension; name one (at most \
                         {MAX_NAMESPACES_SEARCHED} are searched together)",
                        names.len()
                    ),
                ))
                .at(&["body", "namespace"]);
            }
            names
        }
    };
    let request = SearchRequest {
        vector: search.query_vector,
        k: limit,
        filter,
        include_values: search.include_embeddings.unwrap_or(true),
        include_metadata: true,
    };
    let mut hits = Vec::new();
    let mut status = None;
    for namespace in namespaces {
        let coll = ctx.coll(&namespace);
        let freshness = match first_freshness.take() {
            Some(freshness) => freshness,
            None => Freshness::of(&ctx.session, &ctx.edge.cache, &coll, ctx.min_version, ctx.served).await?,
        };
        let answer = search::run(ctx.edge, &ctx.session, &coll, &request, freshness, replay, ctx.served).await;
        cosine_only(ctx, &coll, freshness)?;
        // The request's status is its worst namespace's: a hit only when every one was.
        status = Some(match (status, ctx.served.cache) {
            (None, now) | (Some(CacheStatus::Hit), now) => now,
            (Some(before), _) => before,
        });
        match answer {
            Ok((result, _)) => {
                let kept = result.hits.into_iter().filter(|hit| hit.score >= threshold);
                hits.extend(kept.map(|hit| (namespace.clone(), hit)));
                // A running top `limit`: never more than that held past a namespace.
                hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
                hits.truncate(limit as usize);
            }
            Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => {}
            Err(e) => return Err(e).at(&["body", "query_vector"]),
        }
    }
    ctx.served.cache = status.unwrap_or(CacheStatus::Bypass);
    answer(ctx, hits, start)
}

/// 422 when the cache knows `coll` is not cosine (a collection made
/// through the v1 API with another metric): ZeroDB's search is cosine.
fn cosine_only<S>(ctx: &Context<'_, S>, coll: &CollKey, freshness: Freshness) -> Result<()> {
    if search::cached_metric(&ctx.edge.cache, coll, freshness.now()).is_some_and(|m| m != Metric::Cosine) {
        return Err(ApiError::new(
            code::INVALID_REQUEST,
            format!(
                "namespace {:?} is not searched by cosine (it was made through the v1 API)",
                coll.name
            ),
        ))
        .at(&["body", "namespace"]);
    }
    Ok(())
}

/// A search's answer from its hits (best first, at most the limit).
fn answer<S>(ctx: &Context<'_, S>, hits: Vec<(String, SearchHit)>, start: Instant) -> Result<Response> {
    let vectors: Vec<_> = hits
        .iter()
        .map(|(namespace, hit)| wire::hit(&ctx.project, namespace, hit))
        .collect();
    ok_typed(&wire::SearchOut {
        total_count: vectors.len(),
        vectors,
        search_time_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// `GET …/vectors?namespace&offset&limit&detailed`: a bare array of the
/// namespace's vectors in id order, embeddings only when `detailed=true`.
/// Pages through the origin (not the cache); `offset` is at most
/// [`MAX_OFFSET`].
pub async fn list<S: Origin>(ctx: &mut Context<'_, S>, query: &Query<'_>) -> Result<Response> {
    let namespace = namespace(query.text("namespace")?, &["query", "namespace"])?;
    let given = query.number("limit", MAX_BATCH as u64)?.map(|n| n as i64);
    let limit = limit(given, 100, MAX_BATCH as i64, &["query", "limit"])? as usize;
    let mut skip = query.number("offset", MAX_OFFSET)?.unwrap_or(0) as usize;
    let detailed = query.text("detailed")?.is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut records = Vec::with_capacity(limit);
    let mut after = None;
    while records.len() < limit {
        let page = ctx
            .served
            .origin(ctx.session.list_vectors(&namespace, after.as_deref(), MAX_BATCH as u32))
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => break,
            Err(e) => return Err(e.into()),
        };
        // Skipped records are dropped page by page, never all held.
        let passed = skip.min(page.records.len());
        skip -= passed;
        let wanted = limit - records.len();
        records.extend(page.records.into_iter().skip(passed).take(wanted));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let out: Vec<_> = records
        .iter()
        .map(|r| wire::vector(&ctx.project, &namespace, r, detailed))
        .collect();
    ok_typed(&out)
}

/// `GET …/vectors/stats?namespace`: counts over the project's namespaces
/// (or the one named); the edge's own collections are not namespaces.
pub async fn stats<S: Origin>(ctx: &mut Context<'_, S>, query: &Query<'_>) -> Result<Response> {
    let only = query.text("namespace")?;
    let all = ctx.served.origin(ctx.session.list_collections()).await?;
    let chosen: Vec<CollectionInfo> = all
        .into_iter()
        .filter(|c| only.as_ref().is_none_or(|name| *name == c.name))
        .filter(|c| !c.name.starts_with(crate::validate::RESERVED_PREFIX))
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

/// `GET …/vectors/{vector_id}?namespace`: through the cache, as a v1 get
/// (at least at the `x-zerodb-min-version` asked for).
pub async fn get<S: Origin>(ctx: &mut Context<'_, S>, id: &str, query: &Query<'_>) -> Result<Response> {
    let namespace = namespace(query.text("namespace")?, &["query", "namespace"])?;
    validate::id("vector_id", id).at(&["path", "vector_id"])?;
    let coll = ctx.coll(&namespace);
    let record = api::read_vector(ctx.edge, &ctx.session, &coll, id, ctx.min_version, ctx.served)
        .await
        .map_err(vector_not_found)?;
    ok_typed(&wire::vector(&ctx.project, &namespace, &record, true))
}

/// `DELETE …/vectors/{vector_id}?namespace`.
pub async fn delete<S: Origin>(ctx: &mut Context<'_, S>, id: &str, query: &Query<'_>) -> Result<Response> {
    let namespace = namespace(query.text("namespace")?, &["query", "namespace"])?;
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
