//! `SentenceEncoder`: a BERT sentence encoder (all-MiniLM-L6-v2 and kin) from a Hugging Face
//! directory — token embeddings mean-pooled over the attention mask, then L2-normalised, as
//! sentence-transformers' `Pooling(mean)` + `Normalize` modules do.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::LlmError;
use crate::hf::HfDir;
use crate::model_id::model_id;

/// Texts per forward pass.
const BATCH: usize = 32;

/// A BERT encoder with mean pooling and L2 normalisation.
pub struct SentenceEncoder {
    model: BertModel,
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
        let vb = VarBuilder::from_tensors(hf.load_tensors()?, DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &config).map_err(|e| LlmError::bad_model(dir, format!("BERT weights: {e}")))?;
        let max_len = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
            .map_or(config.max_position_embeddings, |m| m as usize)
            .min(config.max_position_embeddings);
        let mut tokenizer = hf.tokenizer()?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
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

    /// L2-normalised embeddings of `texts`, in order (batched by similar length).
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.embed_batch(&batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, LlmError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        let rows = encodings.len();
        let len = encodings.first().map_or(0, |e| e.len());
        let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings.iter().flat_map(|e| f(e).iter().copied()).collect()
        };
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(flat(&|e| e.get_ids()), (rows, len), &dev)?;
        let types = Tensor::from_vec(flat(&|e| e.get_type_ids()), (rows, len), &dev)?;
        let mask = Tensor::from_vec(flat(&|e| e.get_attention_mask()), (rows, len), &dev)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?; // [rows, len, dim]
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // [rows, len, 1]
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // [rows, dim]
        let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?; // [rows, 1]
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::INFINITY)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}
