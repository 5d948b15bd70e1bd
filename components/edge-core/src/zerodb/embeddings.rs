//! `…/embeddings/*`: ZeroDB's text routes. Texts are embedded by the
//! origin's models through the edge's embedding cache (a repeated text never
//! reaches a model); embed-and-store writes a namespace like
//! `database/vectors/upsert`, binding a new namespace to its model; a text
//! search goes through the result cache like a vector search, and a
//! repeated one (the same body) is answered from the cache without running
//! the model or a search.

use super::error::{At, Result};
use super::params::{limit, namespace};
use super::vectors::write;
use super::wire::{timestamp, EmbedAndStore, Generate, TextSearch};
use super::{ok, ok_typed, Context};
use crate::cache::{BodyKey, CollKey};
use crate::error::{code, ApiError, Code, ErrorKind};
use crate::model::*;
use crate::origin::Origin;
use crate::search::{self, Freshness};
use crate::validate;
use crate::wire::StoredJson;
use crate::{embed, CacheStatus, Response};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Instant;

/// ZeroDB's default similarity threshold of a text search.
const DEFAULT_THRESHOLD: f32 = 0.7;

/// Most hits of one text search (ZeroDB's limit).
const MAX_LIMIT: i64 = 100;

/// The route name a text search's body fingerprint is taken under.
const TEXT_SEARCH: &str = "embeddings/search";

/// `POST …/embeddings/generate`: the vectors of 1 to 100 texts.
pub async fn generate<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let start = Instant::now();
    let request: Generate = validate::json_body(body)?;
    validate::texts("texts", &request.texts).at(&["body", "texts"])?;
    // A model answers its vectors one way; a `normalize` asking the other
    // cannot be served. (An unknown model is refused by the embedding.)
    if let Some(want) = request.normalize {
        let models = ctx.served.origin(ctx.session.embedding_models()).await?;
        let asked = |m: &&EmbeddingModel| request.model.as_deref().map_or(m.is_default, |name| m.name == name);
        if let Some(model) = models.iter().find(asked).filter(|m| m.normalized != want) {
            let form = if model.normalized {
                "unit-length"
            } else {
                "unnormalized"
            };
            return Err(ApiError::new(
                code::INVALID_REQUEST,
                format!(
                    "model {} answers {form} vectors only: normalize {want} cannot be served",
                    model.name
                ),
            ))
            .at(&["body", "normalize"]);
        }
    }
    let model = request.model.as_deref();
    let embedded = embed::texts(ctx.edge, &ctx.session, &ctx.project, model, &request.texts, ctx.served)
        .await
        .at(&["body", "model"])?;
    #[derive(Serialize)]
    struct Out<'a> {
        embeddings: &'a [Vec<f32>],
        model: &'a str,
        dimensions: u32,
        count: usize,
        project_id: &'a str,
        processing_time_ms: f64,
    }
    ok_typed(&Out {
        embeddings: &embedded.vectors,
        model: &embedded.model,
        dimensions: embedded.dims,
        count: embedded.vectors.len(),
        project_id: &ctx.project,
        processing_time_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// The description of `coll`, through the cache; none when it does not
/// exist. While the origin cannot be asked, the cache's last description
/// (so that a search can still be served stale). Also answers the
/// freshness learned for it.
pub(super) async fn namespace_info<S: Origin>(
    ctx: &mut Context<'_, S>,
    coll: &CollKey,
) -> Result<(Freshness, Option<CollectionInfo>)> {
    let freshness = Freshness::of(&ctx.session, &ctx.edge.cache, coll, ctx.min_version, ctx.served).await?;
    match search::describe(&ctx.edge.cache, &ctx.session, coll, freshness.now(), ctx.served).await {
        Ok(info) => Ok((freshness, Some(info))),
        Err(e) if e.code == code::COLLECTION_NOT_FOUND.name => Ok((freshness, None)),
        Err(e) if e.kind == ErrorKind::Unavailable => {
            let known = ctx.edge.cache.borrow_mut().info(coll, None).any();
            known.map(|info| (freshness, Some(info))).ok_or_else(|| e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The model to embed with for a namespace: the one asked for, which must
/// be the namespace's when it is bound to one (400 `model_mismatch`), else
/// the namespace's, else none (the default). A namespace that exists bound
/// to no model holds vectors of a model nothing names: `unbound` is its
/// error code, `then` what the caller should do instead.
fn choose_model(
    asked: Option<String>,
    info: Option<&CollectionInfo>,
    unbound: Code,
    then: &str,
) -> Result<Option<String>> {
    if let Some(info) = info.filter(|info| info.spec.model.is_none()) {
        return Err(ApiError::new(
            unbound,
            format!("namespace {:?} holds vectors stored without a model: {then}", info.name),
        ))
        .at(&["body", "namespace"]);
    }
    let bound = info.and_then(|info| info.spec.model.clone());
    match (asked, bound) {
        (Some(asked), Some(bound)) if asked != bound => Err(ApiError::new(
            code::MODEL_MISMATCH,
            format!(
                "namespace {:?} holds vectors of model {bound:?}, not {asked:?}: store and search it with {bound:?}",
                info.map(|i| i.name.as_str()).unwrap_or_default()
            ),
        ))
        .at(&["body", "model"]),
        (asked, bound) => Ok(asked.or(bound)),
    }
}

/// One text of an embed-and-store: its id (if given), text and metadata.
struct Item {
    id: Option<String>,
    text: String,
    metadata: Option<Value>,
}

/// The texts of an embed-and-store body in any of its forms, each with its
/// id and metadata. Errors: 422 when lists do not match the texts in length.
fn items(request: &mut EmbedAndStore) -> Result<Vec<Item>> {
    if let Some(documents) = request.documents.take() {
        if !request.texts.is_empty() {
            return Err(ApiError::new(
                code::INVALID_REQUEST,
                "give texts or documents, not both",
            ))
            .at(&["body", "documents"]);
        }
        if request.metadata_list.is_some() || request.metadata.is_some() || request.ids.is_some() {
            return Err(ApiError::new(
                code::INVALID_REQUEST,
                "documents carry their own id and metadata: metadata_list, metadata and ids go with texts",
            ))
            .at(&["body", "documents"]);
        }
        return Ok(documents
            .into_iter()
            .map(|d| Item {
                id: d.id,
                text: d.text,
                metadata: d.metadata,
            })
            .collect());
    }
    let texts = std::mem::take(&mut request.texts);
    let n = texts.len();
    let mismatch = |what: &str, len: usize| {
        let code = match what {
            "metadata_list" => code::METADATA_LIST_MISMATCH,
            _ => code::INVALID_REQUEST,
        };
        Err(ApiError::new(
            code,
            format!("{what} has {len} items for {n} texts; give one per text"),
        ))
        .at(&["body", what])
    };
    let metadata: Vec<Option<Value>> = match (request.metadata_list.take(), request.metadata.take()) {
        (Some(list), _) if list.len() != n => return mismatch("metadata_list", list.len()),
        (Some(list), _) => list.into_iter().map(Some).collect(),
        (None, one) => vec![one; n],
    };
    let ids: Vec<Option<String>> = match request.ids.take() {
        Some(ids) if ids.len() != n => return mismatch("ids", ids.len()),
        Some(ids) => ids.into_iter().map(Some).collect(),
        None => vec![None; n],
    };
    Ok(texts
        .into_iter()
        .zip(metadata)
        .zip(ids)
        .map(|((text, metadata), id)| Item { id, text, metadata })
        .collect())
}

/// `POST …/embeddings/embed-and-store`: embeds 1 to 100 texts and stores
/// each as a vector of the namespace (its text as `document`), all in one
/// write; a new namespace is bound to the model. Nothing is stored unless
/// every text, id and metadata object is valid.
pub async fn embed_and_store<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let start = Instant::now();
    let mut request: EmbedAndStore = validate::json_body(body)?;
    let items = items(&mut request)?;
    let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
    validate::texts("texts", &texts).at(&["body", "texts"])?;
    let namespace = namespace(request.namespace.take(), &["body", "namespace"])?;
    let mut records: Vec<VectorRecord> = Vec::with_capacity(items.len());
    for (at, item) in items.into_iter().enumerate() {
        let id = item.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        validate::id("vector_id", &id).at(&["body", "ids", &at.to_string()])?;
        // One write stores one vector per id: a second would be counted
        // as stored and not be.
        if records.iter().any(|r| r.id == id) {
            return Err(ApiError::new(
                code::INVALID_REQUEST,
                format!("id {id:?} is given twice"),
            ))
            .at(&["body", "ids", &at.to_string()]);
        }
        let metadata =
            validate::optional_metadata(item.metadata.as_ref()).at(&["body", "metadata_list", &at.to_string()])?;
        let mut record = VectorRecord::new(id, Vec::new(), metadata);
        record.document = Some(item.text);
        records.push(record);
    }
    let coll = ctx.coll(&namespace);
    let (_, info) = namespace_info(ctx, &coll).await?;
    // A later text search could not know which model to embed its query with.
    let model = choose_model(
        request.model.take(),
        info.as_ref(),
        code::MODEL_MISMATCH,
        "store texts in another namespace",
    )?;
    let embedded = embed::texts(
        ctx.edge,
        &ctx.session,
        &ctx.project,
        model.as_deref(),
        &texts,
        ctx.served,
    )
    .await
    .at(&["body", "model"])?;
    for (record, vector) in records.iter_mut().zip(embedded.vectors) {
        record.values = vector;
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    write(ctx, &namespace, records, Some(&embedded.model)).await?;
    ctx.served.cache = CacheStatus::Bypass;
    ok(json!({
        "success": true,
        "vectors_stored": ids.len(),
        "embeddings_generated": ids.len(),
        "vector_ids": ids,
        "model": embedded.model,
        "dimensions": embedded.dims,
        "target_column": format!("vector_{}", embedded.dims),
        "namespace": namespace,
        "project_id": ctx.project,
        "processing_time_ms": start.elapsed().as_secs_f64() * 1e3,
    }))
}

/// A text search hit: the vector's id under both of ZeroDB's names, its
/// text, similarity (also as `score`) and metadata (also as `metadata`).
#[derive(Serialize)]
struct HitOut<'a> {
    id: &'a str,
    vector_id: &'a str,
    namespace: &'a str,
    /// `""` for a vector stored without text: clients read it as a string.
    document: &'a str,
    similarity: f32,
    score: f32,
    vector_metadata: Option<StoredJson<'a>>,
    metadata: Option<StoredJson<'a>>,
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector_embedding: Option<&'a [f32]>,
}

/// A text search's answer from its hits (best first), those under
/// `threshold` left out.
fn answer(
    ctx: &Context<'_, impl Origin>,
    request: &TextSearch,
    namespace: &str,
    model: &str,
    hits: &[SearchHit],
    start: Instant,
) -> Result<Response> {
    let threshold = request.threshold.unwrap_or(DEFAULT_THRESHOLD);
    let results: Vec<HitOut> = hits
        .iter()
        .filter(|hit| hit.score >= threshold)
        .map(|hit| HitOut {
            id: &hit.id,
            vector_id: &hit.id,
            namespace,
            document: hit.document.as_deref().unwrap_or_default(),
            similarity: hit.score,
            score: hit.score,
            vector_metadata: hit.metadata.as_deref().map(StoredJson),
            metadata: hit.metadata.as_deref().map(StoredJson),
            created_at: hit.written_at_us.map(timestamp),
            vector_embedding: hit.values.as_deref(),
        })
        .collect();
    #[derive(Serialize)]
    struct Out<'a> {
        total_results: usize,
        results: Vec<HitOut<'a>>,
        query: &'a str,
        model: &'a str,
        namespace: &'a str,
        project_id: &'a str,
        processing_time_ms: f64,
    }
    ok_typed(&Out {
        total_results: results.len(),
        results,
        query: &request.query,
        model,
        namespace,
        project_id: &ctx.project,
        processing_time_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// `POST …/embeddings/search`: the namespace's vectors nearest the query's
/// embedding (by the namespace's model), at least `threshold` similar (0.7
/// when not given). Answered from the cache when the same body was
/// answered before at the namespace's current token and the query's
/// embedding is still cached (no model and no search run); a namespace
/// that does not exist has no hits.
pub async fn search<S: Origin>(ctx: &mut Context<'_, S>, body: &[u8]) -> Result<Response> {
    let start = Instant::now();
    let request: TextSearch = validate::json_body(body)?;
    validate::texts("query", std::slice::from_ref(&request.query)).at(&["body", "query"])?;
    let namespace = namespace(request.namespace.clone(), &["body", "namespace"])?;
    let k = limit(request.limit, 10, MAX_LIMIT, &["body", "limit"])?;
    if request.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return Err(ApiError::new(code::INVALID_REQUEST, "threshold must be from 0 to 1")).at(&["body", "threshold"]);
    }
    let coll = ctx.coll(&namespace);
    let body_key = BodyKey::of_route(TEXT_SEARCH, body);
    let (freshness, info) = namespace_info(ctx, &coll).await?;
    // As in the v1 dialect: the query cannot be embedded with the model the
    // vectors came from, which nothing names.
    let model = choose_model(
        request.model.clone(),
        info.as_ref(),
        code::NO_MODEL_BOUND,
        "search it by vector",
    )?;
    if let Freshness::Current(now) = freshness {
        let replayed = {
            let mut cache = ctx.edge.cache.borrow_mut();
            let found = cache.search_by_body(&coll, body_key, now);
            let asked = model
                .as_deref()
                .or(ctx.edge.default_model.borrow().as_deref())
                .map(str::to_string);
            found.and_then(|result| {
                let embedded = cache.embedding(&ctx.project, &asked?, &request.query)?;
                Some((result, embedded.model))
            })
        };
        if let Some((result, model)) = replayed {
            ctx.served.cache = CacheStatus::Hit;
            return answer(ctx, &request, &namespace, &model, &result.hits, start);
        }
    }
    let (model, vector) = embed::text(
        ctx.edge,
        &ctx.session,
        &ctx.project,
        model.as_deref(),
        &request.query,
        ctx.served,
    )
    .await
    .at(&["body", "model"])?;
    let embedded = ctx.served.cache;
    if info.is_none() {
        return answer(ctx, &request, &namespace, &model, &[], start);
    }
    let filter = match &request.filter_metadata {
        Some(Value::Null) | None => None,
        Some(filter) => Some(validate::filter(filter).at(&["body", "filter_metadata"])?),
    };
    let search = SearchRequest {
        vector,
        k,
        filter,
        include_values: request.include_embeddings.unwrap_or(false),
        include_metadata: true,
    };
    let (result, _) = search::run(
        ctx.edge,
        &ctx.session,
        &coll,
        &search,
        freshness,
        Some(body_key),
        ctx.served,
    )
    .await
    .at(&["body", "query"])?;
    ctx.served.cache = embed::worse(embedded, ctx.served.cache);
    answer(ctx, &request, &namespace, &model, &result.hits, start)
}

/// `GET …/embeddings/models`: a bare list of the models served, the
/// default first.
pub async fn models<S: Origin>(ctx: &mut Context<'_, S>) -> Result<Response> {
    let models = ctx.served.origin(ctx.session.embedding_models()).await?;
    let list: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "model": m.name,
                "dimensions": m.dims,
                "max_tokens": m.max_tokens,
                "pooling": m.pooling,
                "normalized": m.normalized,
                "default": m.is_default,
            })
        })
        .collect();
    ok(Value::Array(list))
}
