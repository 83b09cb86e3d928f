//! `SentenceEncoder`: a BERT sentence encoder (all-MiniLM-L6-v2 and kin) from a Hugging Face
//! directory — token embeddings mean-pooled over each sentence's tokens, then L2-normalised, as
//! sentence-transformers' `Pooling(mean)` + `Normalize` modules do.
//!
//! Sentences are tokenised without padding and run *packed* ([`crate::packed_bert`]): the
//! tokens of up to [`MAX_BATCH_TOKENS`] tokens' worth of sentences go through each layer as one
//! matrix, attention stays within each sentence, and no padded position is ever computed, so
//! there is no padding to sort by length for and an embedding is the same whatever it is
//! batched with. Outputs come back in input order.

use std::path::Path;

use candle_transformers::models::bert::Config;
use tokenizers::{Tokenizer, TruncationParams};

use crate::LlmError;
use crate::hf::HfDir;
use crate::model_id::model_id;
use crate::packed_bert::{Packed, PackedBert};

/// Sentences tokenised per call to the tokenizer (it parallelises within a call).
const TOKENIZE_BATCH: usize = 256;

/// Tokens per packed forward pass: large enough for efficient GEMMs, small enough that the
/// activations (`tokens × intermediate` f32, 48 MiB for MiniLM) stay modest.
pub const MAX_BATCH_TOKENS: usize = 8192;

/// A BERT encoder with mean pooling and L2 normalisation.
pub struct SentenceEncoder {
    model: PackedBert,
    tokenizer: Tokenizer,
    model_id: String,
    dim: usize,
}

impl SentenceEncoder {
    /// Loads `config.json` (`model_type: bert`), `*.safetensors` and `tokenizer.json` from `dir`.
    /// The maximum sequence length is `sentence_bert_config.json`'s `max_seq_length` when present.
    pub fn load(dir: &Path) -> Result<Self, LlmError> {
        let hf = HfDir::open(dir)?;
        let model_type = hf.model_type();
        if model_type != "bert" {
            return Err(LlmError::bad_model(
                &hf.config_path,
                format!("model_type `{model_type}` is not a BERT sentence encoder"),
            ));
        }
        let config: Config = hf.parse_config()?;
        let model = PackedBert::load(&hf.load_tensors()?, &config).map_err(|e| LlmError::bad_model(dir, e.to_string()))?;
        let max_len = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
            .map_or(config.max_position_embeddings, |m| m as usize)
            .min(config.max_position_embeddings);
        let mut tokenizer = hf.tokenizer()?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        Ok(Self { model, tokenizer, model_id: model_id(&hf.name(), &hf.id_files())?, dim: config.hidden_size })
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// L2-normalised embeddings of `texts`, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut out = Vec::with_capacity(texts.len());
        let (mut ids, mut types, mut offsets) = (Vec::new(), Vec::new(), vec![0usize]);
        for chunk in texts.chunks(TOKENIZE_BATCH) {
            let encodings = self
                .tokenizer
                .encode_batch(chunk.iter().map(String::as_str).collect::<Vec<_>>(), true)
                .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
            for e in &encodings {
                if ids.len() + e.len() > MAX_BATCH_TOKENS && offsets.len() > 1 {
                    self.flush(&mut ids, &mut types, &mut offsets, &mut out)?;
                }
                ids.extend_from_slice(e.get_ids());
                types.extend_from_slice(e.get_type_ids());
                offsets.push(ids.len());
            }
        }
        if offsets.len() > 1 {
            self.flush(&mut ids, &mut types, &mut offsets, &mut out)?;
        }
        Ok(out)
    }

    /// Runs the packed sentences, appends their normalised embeddings to `out` and empties the batch.
    fn flush(&self, ids: &mut Vec<u32>, types: &mut Vec<u32>, offsets: &mut Vec<usize>, out: &mut Vec<Vec<f32>>) -> Result<(), LlmError> {
        let pooled = self.model.mean_pooled(&Packed { ids, types, offsets })?;
        for row in pooled.chunks_exact(self.dim) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            out.push(row.iter().map(|v| v / norm).collect());
        }
        ids.clear();
        types.clear();
        offsets.truncate(1);
        Ok(())
    }
}
