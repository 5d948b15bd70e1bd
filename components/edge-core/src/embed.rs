//! Texts to vectors at the edge: each text's embedding comes from the
//! instance's cache when it holds it (model + exact text); the others are
//! embedded by the origin in one call and kept, so that a repeated text
//! never reaches a model.

use crate::cache::Embedded;
use crate::error::{code, ApiError};
use crate::model::Embeddings;
use crate::origin::Origin;
use crate::{CacheStatus, Edge, Served};

/// The embeddings of `texts` (already validated) by `model` (the origin's
/// default for none) for `project`. Sets the request's cache status: a hit
/// when every text was cached. Errors: the origin's (`model_not_loaded`,
/// `overloaded`, ...).
pub(crate) async fn texts<S: Origin>(
    edge: &Edge,
    session: &S,
    project: &str,
    model: Option<&str>,
    texts: &[String],
    served: &mut Served,
) -> Result<Embeddings, ApiError> {
    let model = match model {
        Some(model) => model.to_string(),
        None => default_model(edge, session, served).await?,
    };
    let asked = model.as_str();
    let mut found: Vec<Option<Embedded>> = {
        let mut cache = edge.cache.borrow_mut();
        texts.iter().map(|t| cache.embedding(project, asked, t)).collect()
    };
    // Each distinct text not cached, once.
    let mut missing: Vec<String> = Vec::new();
    for (text, hit) in texts.iter().zip(&found) {
        if hit.is_none() && !missing.contains(text) {
            missing.push(text.clone());
        }
    }
    served.cache = if missing.is_empty() {
        CacheStatus::Hit
    } else {
        CacheStatus::Miss
    };
    if !missing.is_empty() {
        let answer = served.origin(session.embed(Some(asked), &missing)).await?;
        if answer.vectors.len() != missing.len() || answer.vectors.iter().any(|v| v.len() != answer.dims as usize) {
            return Err(ApiError::new(
                code::INTERNAL,
                "the origin's embeddings do not match the texts in number or dimension",
            ));
        }
        let mut cache = edge.cache.borrow_mut();
        for (text, vector) in missing.iter().zip(answer.vectors) {
            let embedded = Embedded {
                model: answer.model.clone(),
                vector,
            };
            cache.put_embedding(project, asked, text, embedded.clone());
            for (t, slot) in texts.iter().zip(found.iter_mut()) {
                if t == text {
                    *slot = Some(embedded.clone());
                }
            }
        }
    }
    let found: Vec<Embedded> = found.into_iter().flatten().collect();
    let model = found.first().map(|e| e.model.clone()).unwrap_or_default();
    Ok(Embeddings {
        model,
        dims: found.first().map_or(0, |e| e.vector.len() as u32),
        vectors: found.into_iter().map(|e| e.vector).collect(),
    })
}

/// The name of the origin's default model, asked once per instance.
/// Errors: 400 `model_not_loaded` when the origin runs none.
async fn default_model<S: Origin>(edge: &Edge, session: &S, served: &mut Served) -> Result<String, ApiError> {
    if let Some(name) = edge.default_model.borrow().clone() {
        return Ok(name);
    }
    let models = served.origin(session.embedding_models()).await?;
    let name = models
        .into_iter()
        .find(|m| m.is_default)
        .map(|m| m.name)
        .ok_or_else(|| {
            ApiError::new(
                code::MODEL_NOT_LOADED,
                "no embedding model is loaded: the origin runs none (see its --embedding-model)",
            )
        })?;
    *edge.default_model.borrow_mut() = Some(name.clone());
    Ok(name)
}

/// The worse of two cache statuses of one request's parts (a text embedded
/// by the model then searched at the edge is a miss, not a hit).
pub(crate) fn worse(a: CacheStatus, b: CacheStatus) -> CacheStatus {
    match (a, b) {
        (CacheStatus::Hit, other) => other,
        (other, _) => other,
    }
}

/// The embedding of one text (see [`texts`]).
pub(crate) async fn text<S: Origin>(
    edge: &Edge,
    session: &S,
    project: &str,
    model: Option<&str>,
    text: &str,
    served: &mut Served,
) -> Result<(String, Vec<f32>), ApiError> {
    let mut answer = texts(edge, session, project, model, &[text.to_string()], served).await?;
    Ok((answer.model, answer.vectors.pop().unwrap_or_default()))
}
