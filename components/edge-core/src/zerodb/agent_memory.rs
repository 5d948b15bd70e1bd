//! ZeroDB's agent memory (memory v2: `remember`, `recall`, `forget`),
//! scoped by the key's project.
//!
//! A memory is a vector of the project's [`MEMORY_COLLECTION`]: its
//! content embedded by the default model, the content as `document`, and
//! as metadata `{namespace, session_id, entity_id, memory_type,
//! importance, tags, metadata}` (the last the caller's own). Recall embeds
//! the query, takes the nearest memories of the namespace through the
//! edge's cache, and orders them by a blended score:
//!
//! `score = 0.7 × similarity + 0.2 × importance + 0.1 × recency`, where
//! recency halves every 30 days of age (1 for a memory stored now).

use super::embeddings::namespace_info;
use super::error::{At, Result};
use super::params::limit;
use super::vectors::write;
use super::wire::{timestamp, Forget, Recall, Remember};
use super::{ok, Context, MEMORY_COLLECTION};
use crate::error::{code, ApiError};
use crate::model::*;
use crate::origin::Origin;
use crate::search;
use crate::{embed, validate, CacheStatus, Response};
use serde_json::{json, Value};

/// The namespace of a memory stored or recalled without one.
const DEFAULT_NAMESPACE: &str = "global";

/// Memory types ZeroDB's agent memory knows; `episodic` when none is given.
const MEMORY_TYPES: [&str; 3] = ["working", "episodic", "semantic"];

/// Weights of the blended score (see the module documentation).
const SIMILARITY_WEIGHT: f64 = 0.7;
const IMPORTANCE_WEIGHT: f64 = 0.2;
const RECENCY_WEIGHT: f64 = 0.1;
/// Age at which a memory's recency is one half, in seconds (30 days).
const RECENCY_HALF_LIFE_S: f64 = 30.0 * 86_400.0;

/// Candidates recall reads per memory it answers: room for importance and
/// recency to lift a slightly less similar memory into the answer.
const CANDIDATES_PER_RESULT: u32 = 3;

/// `POST /v1/public/memory/v2/remember`: stores one memory; answers its
/// UUID with `status: "stored"`.
pub async fn remember<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let request: Remember = validate::json_body(body)?;
    validate::texts("content", std::slice::from_ref(&request.content)).at(&["body", "content"])?;
    let namespace = request.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    validate::id("namespace", &namespace).at(&["body", "namespace"])?;
    let importance = request.importance.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&importance) {
        return Err(ApiError::new(code::INVALID_REQUEST, "importance must be from 0 to 1")).at(&["body", "importance"]);
    }
    let memory_type = request.memory_type.unwrap_or_else(|| "episodic".into());
    if !MEMORY_TYPES.contains(&memory_type.as_str()) {
        return Err(ApiError::new(
            code::INVALID_REQUEST,
            format!("memory_type must be one of {MEMORY_TYPES:?}"),
        ))
        .at(&["body", "memory_type"]);
    }
    let own = validate::optional_metadata(request.metadata.as_ref()).at(&["body", "metadata"])?;
    let envelope = json!({
        "namespace": namespace,
        "session_id": request.session_id,
        "entity_id": request.entity_id,
        "memory_type": memory_type,
        "importance": importance,
        "tags": request.tags.unwrap_or_default(),
        "metadata": serde_json::from_str::<Value>(&own).unwrap_or(Value::Null),
    });
    let metadata = validate::metadata(&envelope).at(&["body", "metadata"])?;
    // The store's own model once it has one (a new default model must not
    // mix its vectors with the old one's); the default for the first memory.
    let coll = ctx.coll(MEMORY_COLLECTION);
    let (_, info) = namespace_info(ctx, &coll).await?;
    let bound = info.and_then(|info| info.spec.model);
    let (model, vector) = embed::text(
        ctx.edge,
        &ctx.session,
        &ctx.project,
        bound.as_deref(),
        &request.content,
        ctx.served,
    )
    .await
    .at(&["body", "content"])?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut record = VectorRecord::new(id.clone(), vector, metadata);
    record.document = Some(request.content.clone());
    let at_us = write(ctx, MEMORY_COLLECTION, vec![record], Some(&model)).await?;
    ctx.served.cache = CacheStatus::Bypass;
    ok(json!({
        "memory_id": id,
        "id": id,
        "status": "stored",
        "content": request.content,
        "namespace": envelope["namespace"],
        "memory_type": envelope["memory_type"],
        "importance": importance,
        "tags": envelope["tags"],
        "created_at": timestamp(at_us),
    }))
}

/// A memory's blended score (see the module documentation) from its
/// similarity, importance and age in seconds.
fn blended(similarity: f32, importance: f64, age_s: f64) -> f64 {
    let recency = 0.5f64.powf(age_s.max(0.0) / RECENCY_HALF_LIFE_S);
    SIMILARITY_WEIGHT * f64::from(similarity) + IMPORTANCE_WEIGHT * importance + RECENCY_WEIGHT * recency
}

/// Now, in microseconds since the Unix epoch.
fn now_us() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_micros() as u64)
}

/// `POST /v1/public/memory/v2/recall`: the memories of the namespace
/// (every one with `allow_cross_namespace`) nearest the query, best
/// blended score first: `{results, count}`.
pub async fn recall<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let request: Recall = validate::json_body(body)?;
    validate::texts("query", std::slice::from_ref(&request.query)).at(&["body", "query"])?;
    let wanted = limit(request.limit, 10, 100, &["body", "limit"])?;
    let coll = ctx.coll(MEMORY_COLLECTION);
    let (freshness, info) = namespace_info(ctx, &coll).await?;
    // Nothing remembered yet.
    let Some(info) = info else {
        return ok(json!({"results": [], "count": 0}));
    };
    let model = info.spec.model.as_deref();
    let (_, vector) = embed::text(ctx.edge, &ctx.session, &ctx.project, model, &request.query, ctx.served)
        .await
        .at(&["body", "query"])?;
    let embedded = ctx.served.cache;
    let mut filter = serde_json::Map::new();
    if !request.allow_cross_namespace.unwrap_or(false) {
        let namespace = request.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        filter.insert("namespace".into(), namespace.into());
    }
    if let Some(entity) = request.entity_id {
        filter.insert("entity_id".into(), entity.into());
    }
    let filter = (!filter.is_empty())
        .then(|| validate::filter(&Value::Object(filter)))
        .transpose()
        .at(&["body"])?;
    let search = SearchRequest {
        vector,
        k: (wanted * CANDIDATES_PER_RESULT).clamp(30, validate::MAX_K),
        filter,
        include_values: false,
        include_metadata: true,
    };
    let (result, _) = search::run(ctx.edge, &ctx.session, &coll, &search, freshness, None, ctx.served)
        .await
        .at(&["body", "query"])?;
    ctx.served.cache = embed::worse(embedded, ctx.served.cache);
    let now = now_us();
    let mut results: Vec<(f64, Value)> = result
        .hits
        .iter()
        .map(|hit| {
            let meta: Value = hit
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or(Value::Null);
            let importance = meta["importance"].as_f64().unwrap_or(0.5);
            let written = hit.written_at_us.unwrap_or(now);
            let score = blended(hit.score, importance, now.saturating_sub(written) as f64 / 1e6);
            let out = json!({
                "id": hit.id,
                "memory_id": hit.id,
                "content": hit.document,
                "score": score,
                "similarity": hit.score,
                "importance": importance,
                "memory_type": meta["memory_type"],
                "namespace": meta["namespace"],
                "session_id": meta["session_id"],
                "entity_id": meta["entity_id"],
                "tags": meta["tags"],
                "metadata": meta["metadata"],
                "created_at": hit.written_at_us.map(timestamp),
            });
            (score, out)
        })
        .collect();
    results.sort_by(|a, b| b.0.total_cmp(&a.0));
    results.truncate(wanted as usize);
    let results: Vec<Value> = results.into_iter().map(|(_, out)| out).collect();
    ok(json!({"count": results.len(), "results": results}))
}

/// `POST /v1/public/memory/v2/forget` with `{memory_id}`.
pub async fn forget_by_body<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let request: Forget = validate::json_body(body)?;
    forget(ctx, &request.memory_id).await
}

/// `DELETE /v1/public/memory/v2/forget/{memory_id}`: deletes one memory;
/// 404 `memory_not_found` when there is none of that id.
pub async fn forget<S: Origin>(ctx: &mut Context<'_, S>, id: &str) -> Result<Response> {
    validate::id("memory_id", id).at(&["path", "memory_id"])?;
    let not_found = || ApiError::new(code::MEMORY_NOT_FOUND, "Memory not found");
    let result = match ctx.served.origin(ctx.session.delete(MEMORY_COLLECTION, id)).await {
        Ok(result) if result.affected > 0 => result,
        Ok(_) => return Err(not_found().into()),
        Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => return Err(not_found().into()),
        Err(e) => return Err(e.into()),
    };
    let coll = ctx.coll(MEMORY_COLLECTION);
    ctx.edge
        .cache
        .borrow_mut()
        .apply_write(&coll, &[], &[id], result.version);
    ok(json!({"status": "forgotten", "memory_id": id}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blend_weighs_similarity_then_importance_then_recency() {
        // Stored now, importance 0.5, similarity 1: 0.7 + 0.1 + 0.1.
        assert!((blended(1.0, 0.5, 0.0) - 0.9).abs() < 1e-9);
        // Recency halves in 30 days.
        let month = RECENCY_HALF_LIFE_S;
        assert!((blended(0.0, 0.0, month) - 0.05).abs() < 1e-9);
        // A much more similar memory beats a more important one.
        assert!(blended(0.9, 0.0, 0.0) > blended(0.6, 1.0, 0.0));
    }
}
