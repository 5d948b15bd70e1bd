//! The embedding models the host runs, and the queue in front of each.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The name of the model `scripts/models` installs.
const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Its directory under the models directory.
const DEFAULT_MODEL_DIR: &str = "all-MiniLM-L6-v2";

/// Where models are looked for when none is configured.
const DEFAULT_MODELS_DIR: &str = ".zerodb/models";

/// Embedding settings.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Embedding {
    /// An embedding model to run: `NAME=DIR[,dims=N][,pooling=mean|cls][,normalize=true|false][,max_tokens=N]`
    /// (repeat the flag, or separate with `;`). Settings not given are read
    /// from the directory's sentence-transformers files. The first is the
    /// default. When none is given, `sentence-transformers/all-MiniLM-L6-v2`
    /// is run from the models directory if it is there.
    #[arg(long, env = "ZERODB_EMBEDDING_MODELS", value_delimiter = ';')]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    embedding_model: Vec<String>,
    /// Where the default model is looked for (default `.zerodb/models`).
    #[arg(long, env = "ZERODB_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// Run no embedding model, even the default one.
    #[arg(long, env = "ZERODB_NO_EMBEDDING")]
    #[serde(default, skip_serializing_if = "super::layers::is_off")]
    no_embedding: bool,
    /// Threads running each model, one core each (default: one per core).
    #[arg(long, env = "ZERODB_EMBEDDING_WORKERS")]
    embedding_workers: Option<usize>,
    /// Most texts in one forward pass of a worker (default 16): a larger
    /// request is split among the workers in chunks of at most this.
    #[arg(long, env = "ZERODB_EMBEDDING_BATCH")]
    embedding_batch: Option<usize>,
    /// Most texts waiting for a model; past it a request is answered 503
    /// `overloaded` (default 512).
    #[arg(long, env = "ZERODB_EMBEDDING_QUEUE")]
    embedding_queue: Option<usize>,
}

/// How token vectors become one sentence vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// The mean of the token vectors the attention mask keeps (all-MiniLM).
    Mean,
    /// The `[CLS]` token's vector (BAAI/bge).
    Cls,
}

impl Pooling {
    /// `mean` or `cls`.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

/// A model as configured: where it is and what is asserted of it. Fields
/// left none are read from the directory's sentence-transformers files.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// The name clients ask for, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub name: String,
    /// The directory of `config.json`, `model.safetensors` and `tokenizer.json`.
    pub dir: PathBuf,
    /// The sentence vector's length; checked against the model's.
    pub dims: Option<u32>,
    /// How token vectors become the sentence's.
    pub pooling: Option<Pooling>,
    /// Whether sentence vectors are scaled to unit length.
    pub normalize: Option<bool>,
    /// Word pieces read of a text, `[CLS]` and `[SEP]` included.
    pub max_tokens: Option<u32>,
}

impl ModelSpec {
    /// Parses `NAME=DIR[,key=value...]` (see [`Embedding`]).
    fn parse(text: &str) -> anyhow::Result<ModelSpec> {
        let mut parts = text.split(',');
        let first = parts.next().unwrap_or_default();
        let Some((name, dir)) = first.split_once('=') else {
            bail!("embedding model {text:?} is not NAME=DIR[,key=value...]");
        };
        if name.is_empty() || dir.is_empty() {
            bail!("embedding model {text:?} needs a name and a directory");
        }
        let mut spec = ModelSpec {
            name: name.into(),
            dir: dir.into(),
            dims: None,
            pooling: None,
            normalize: None,
            max_tokens: None,
        };
        for part in parts {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let bad = || format!("embedding model {name}: {key}={value:?}");
            match key {
                "dims" => spec.dims = Some(value.parse().with_context(bad)?),
                "max_tokens" => spec.max_tokens = Some(value.parse().with_context(bad)?),
                "normalize" => spec.normalize = Some(value.parse().with_context(bad)?),
                "pooling" => {
                    spec.pooling = Some(match value {
                        "mean" => Pooling::Mean,
                        "cls" => Pooling::Cls,
                        _ => bail!("{}: pooling is mean or cls", bad()),
                    })
                }
                _ => bail!("embedding model {name}: unknown setting {key:?} (dims, pooling, normalize, max_tokens)"),
            }
        }
        Ok(spec)
    }

    /// The default model in `models_dir`, if it is installed there.
    fn default_in(models_dir: &Path) -> Option<ModelSpec> {
        let dir = models_dir.join(DEFAULT_MODEL_DIR);
        dir.join("model.safetensors").is_file().then(|| ModelSpec {
            name: DEFAULT_MODEL.into(),
            dir,
            dims: None,
            pooling: None,
            normalize: None,
            max_tokens: None,
        })
    }
}

/// Validated embedding settings.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingConfig {
    /// The models to load, the default first; empty: no embedding.
    pub models: Vec<ModelSpec>,
    /// Threads per model.
    pub workers: usize,
    /// Most texts in one forward pass.
    pub max_batch: usize,
    /// Most texts waiting per model.
    pub queue: usize,
}

impl Embedding {
    /// The models (the default one when none is given and it is installed)
    /// and queue sizes. Errors: a model spec that does not parse, or a size
    /// of 0 (a queue of fewer than 100 texts).
    pub fn resolve(self) -> anyhow::Result<EmbeddingConfig> {
        let models = if self.no_embedding {
            Vec::new()
        } else if self.embedding_model.is_empty() {
            let dir = self.models_dir.unwrap_or_else(|| DEFAULT_MODELS_DIR.into());
            let found = ModelSpec::default_in(&dir);
            if found.is_none() {
                tracing::warn!(
                    dir = %dir.display(),
                    "no embedding model: {DEFAULT_MODEL} is not in the models directory (scripts/models \
                     installs it; see --models-dir), so text routes answer model_not_loaded"
                );
            }
            found.into_iter().collect()
        } else {
            let given = self.embedding_model.iter().filter(|s| !s.trim().is_empty());
            given
                .map(|s| ModelSpec::parse(s.trim()))
                .collect::<anyhow::Result<_>>()?
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let positive = |value: Option<usize>, default: usize, what: &str| match value {
            Some(0) => bail!("{what} must be at least 1"),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        Ok(EmbeddingConfig {
            models,
            workers: positive(self.embedding_workers, cores, "embedding workers")?,
            max_batch: positive(self.embedding_batch, 16, "the embedding batch")?,
            queue: match positive(self.embedding_queue, 512, "the embedding queue")? {
                // Below it, a request of the most texts would never fit.
                n if n < edge_core::validate::MAX_TEXTS => {
                    bail!(
                        "the embedding queue must hold at least {} texts",
                        edge_core::validate::MAX_TEXTS
                    )
                }
                n => n,
            },
        })
    }
}
