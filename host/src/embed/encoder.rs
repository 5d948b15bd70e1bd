//! One sentence encoder: a BERT-family model run by candle on the CPU, its
//! tokenizer, and the pooling and normalisation of the sentence-transformers
//! layout it was saved in.
//!
//! A model directory holds `config.json` (the BERT configuration),
//! `model.safetensors` and `tokenizer.json`; when it also holds the files
//! sentence-transformers writes (`1_Pooling/config.json`, `modules.json`,
//! `sentence_bert_config.json`), the pooling, normalisation and sequence
//! length default to theirs, so that the vectors are those
//! sentence-transformers computes for the same model.

use crate::config::{ModelSpec, Pooling};
use anyhow::{bail, Context};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use std::path::Path;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams, TruncationStrategy};

/// What a loaded encoder is.
#[derive(Clone, Debug, PartialEq)]
pub struct EncoderInfo {
    /// The sentence vector's length (the model's hidden size).
    pub dims: u32,
    /// How token vectors become the sentence's.
    pub pooling: Pooling,
    /// Whether sentence vectors are scaled to unit length.
    pub normalize: bool,
    /// Word pieces read of a text, `[CLS]` and `[SEP]` included.
    pub max_tokens: u32,
}

/// A loaded model, ready to encode batches of texts. Encoding blocks its
/// thread for the batch's whole forward pass (see `embed::batcher`).
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    /// What the model is, as loaded.
    pub info: EncoderInfo,
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertFile {
    max_seq_length: Option<u32>,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

impl Encoder {
    /// Loads `spec.dir`. Errors: a missing or unreadable file, a
    /// configuration candle's BERT does not take, or a setting that
    /// contradicts the model (its dimension, a pooling it does not name).
    pub fn load(spec: &ModelSpec) -> anyhow::Result<Encoder> {
        let dir = &spec.dir;
        let config: Config =
            read_json(&dir.join("config.json"))?.with_context(|| format!("{} has no config.json", dir.display()))?;
        let hidden = config.hidden_size as u32;
        if spec.dims.is_some_and(|d| d != hidden) {
            bail!(
                "model {} has {hidden} dimensions, not the {} configured",
                spec.name,
                spec.dims.unwrap_or_default()
            );
        }
        let pooling_file: Option<PoolingFile> = read_json(&dir.join("1_Pooling/config.json"))?;
        let found_pooling = pooling_file.and_then(|p| match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token) {
            (true, false) => Some(Pooling::Mean),
            (false, true) => Some(Pooling::Cls),
            _ => None,
        });
        let modules: Option<Vec<Module>> = read_json(&dir.join("modules.json"))?;
        let found_normalize = modules.map(|m| m.iter().any(|m| m.kind.ends_with(".Normalize")));
        let found_max: Option<SentenceBertFile> = read_json(&dir.join("sentence_bert_config.json"))?;
        let positions = config.max_position_embeddings as u32;
        let max_tokens = spec
            .max_tokens
            .or(found_max.and_then(|f| f.max_seq_length))
            .unwrap_or(positions)
            .min(positions);
        let info = EncoderInfo {
            dims: hidden,
            pooling: spec.pooling.or(found_pooling).unwrap_or(Pooling::Mean),
            normalize: spec.normalize.or(found_normalize).unwrap_or(true),
            max_tokens,
        };

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow::anyhow!("reading {}/tokenizer.json: {e}", dir.display()))?;
        // The file's own padding and truncation (all-MiniLM's pads every
        // text to 128) are replaced by sentence-transformers': pad to the
        // batch's longest text, cut at the model's sequence length.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens as usize,
                strategy: TruncationStrategy::LongestFirst,
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));

        let weights = std::fs::read(dir.join("model.safetensors"))
            .with_context(|| format!("reading {}/model.safetensors", dir.display()))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)?;
        let model = BertModel::load(vb, &config).with_context(|| format!("loading {}", spec.name))?;
        Ok(Encoder { model, tokenizer, info })
    }

    /// The sentence vectors of `texts`, in order, each of `info.dims`
    /// values. Texts longer than `info.max_tokens` word pieces are cut.
    pub fn encode(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let (batch, length) = (encodings.len(), encodings[0].get_ids().len());
        let column = |get: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> anyhow::Result<Tensor> {
            let flat: Vec<u32> = encodings.iter().flat_map(|e| get(e).iter().copied()).collect();
            Ok(Tensor::from_vec(flat, (batch, length), &Device::Cpu)?)
        };
        let ids = column(&|e| e.get_ids())?;
        let type_ids = column(&|e| e.get_type_ids())?;
        let mask = column(&|e| e.get_attention_mask())?;
        let tokens = self.model.forward(&ids, &type_ids, Some(&mask))?;
        let pooled = match self.info.pooling {
            Pooling::Cls => tokens.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = tokens.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
        };
        let pooled = if self.info.normalize {
            let norms = pooled
                .sqr()?
                .sum_keepdim(D::Minus1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            pooled.broadcast_div(&norms)?
        } else {
            pooled
        };
        Ok(pooled.to_vec2::<f32>()?)
    }
}
