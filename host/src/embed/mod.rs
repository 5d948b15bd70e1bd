//! Text embedding in the host: sentence-embedding models run natively with
//! candle (`encoder`), each behind a bounded, batching queue of worker
//! threads off the async reactor (`batcher`), and [`Embedder`], which
//! answers the origin's `embed` and `embedding-models` calls.
//!
//! Models are read from directories at start-up; nothing is downloaded.

mod batcher;
mod encoder;

use crate::config::EmbeddingConfig;
use batcher::{Queue, QueueConfig};
use edge_core::error::{code, ApiError};
use edge_core::model::{EmbeddingModel, Embeddings};
use edge_core::validate;
use std::sync::Arc;

/// Keeps each forward pass's matrix products on its worker's core: candle
/// asks `RAYON_NUM_THREADS` how many threads a product may use, on every
/// call, so it is set to 1 (unless the operator set it; also
/// `CANDLE_NUM_THREADS`, the size of candle's own pool). The global rayon
/// pool is then built with one thread per core, which the rest of the host
/// (wasmtime's compilation) keeps. Must run before any other thread starts:
/// it changes the environment.
pub fn one_core_per_pass() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: called first thing in `main`, while the process has
            // one thread, so nothing reads the environment meanwhile.
            unsafe { std::env::set_var(var, "1") };
        }
    }
    let _ = rayon::ThreadPoolBuilder::new().num_threads(cores).build_global();
}

/// One loaded model and its queue.
struct Loaded {
    info: EmbeddingModel,
    queue: Queue,
}

/// The embedding models of this host (see the module documentation); the
/// first is the default.
#[derive(Default)]
pub struct Embedder {
    models: Vec<Loaded>,
}

impl Embedder {
    /// Loads every model of `config` and starts its workers. Errors: a
    /// model that cannot be loaded (see [`encoder::Encoder::load`]), or
    /// two models of one name.
    pub fn load(config: &EmbeddingConfig) -> anyhow::Result<Embedder> {
        let queue = QueueConfig {
            workers: config.workers,
            max_batch: config.max_batch,
            capacity: config.queue,
        };
        let mut models: Vec<Loaded> = Vec::new();
        for spec in &config.models {
            if models.iter().any(|m| m.info.name == spec.name) {
                anyhow::bail!("embedding model {} is configured twice", spec.name);
            }
            let encoder = encoder::Encoder::load(spec)?;
            let info = EmbeddingModel {
                name: spec.name.clone(),
                dims: encoder.info.dims,
                max_tokens: encoder.info.max_tokens,
                pooling: encoder.info.pooling.name().into(),
                normalized: encoder.info.normalize,
                is_default: models.is_empty(),
            };
            let queue = Queue::start(&spec.name, Arc::new(encoder), queue)?;
            models.push(Loaded { info, queue });
        }
        Ok(Embedder { models })
    }

    /// The models, the default first.
    pub fn models(&self) -> Vec<EmbeddingModel> {
        self.models.iter().map(|m| m.info.clone()).collect()
    }

    /// The model called `name`, or the default for none. Errors: 400
    /// `model_not_loaded`, naming the models that are.
    pub fn model(&self, name: Option<&str>) -> Result<&EmbeddingModel, ApiError> {
        self.find(name).map(|m| &m.info)
    }

    fn find(&self, name: Option<&str>) -> Result<&Loaded, ApiError> {
        let found = match name {
            Some(name) => self.models.iter().find(|m| m.info.name == name),
            None => self.models.first(),
        };
        found.ok_or_else(|| {
            let loaded: Vec<&str> = self.models.iter().map(|m| m.info.name.as_str()).collect();
            let asked = name.map_or("an embedding model".to_string(), |n| format!("model {n:?}"));
            let message = if loaded.is_empty() {
                format!("{asked} is not loaded: this host runs no embedding model (see --embedding-model)")
            } else {
                format!("{asked} is not loaded; loaded: {}", loaded.join(", "))
            };
            ApiError::new(code::MODEL_NOT_LOADED, message)
        })
    }

    /// The vectors of `texts` by `model` (the default for none). Errors:
    /// those of [`validate::texts`] and [`Self::model`], and 503
    /// `overloaded` when the model's queue is full.
    pub async fn embed(&self, model: Option<&str>, texts: Vec<String>) -> Result<Embeddings, ApiError> {
        validate::texts("texts", &texts)?;
        let loaded = self.find(model)?;
        let vectors = loaded.queue.encode(texts).await?;
        Ok(Embeddings {
            model: loaded.info.name.clone(),
            dims: loaded.info.dims,
            vectors,
        })
    }
}
