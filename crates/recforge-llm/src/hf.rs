//! Hugging Face model directories: `config.json` + `*.safetensors` + `tokenizer.json`.
//!
//! Reads the config's `model_type` (llama/mistral → the llama decoder, t5 → T5, bert → the
//! sentence encoder), loads every safetensors shard, and the tokenizer from `tokenizer.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Deserialize;

use crate::LlmError;
use crate::llama::LlamaConfig;

/// The fields of a llama-family `config.json` this runtime reads.
#[derive(Debug, Deserialize)]
pub struct HfLlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f32,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_context")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<serde_json::Value>,
}

fn default_rope_theta() -> f32 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-5
}
fn default_context() -> usize {
    2048
}

impl HfLlamaConfig {
    pub fn to_config(&self) -> LlamaConfig {
        LlamaConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            num_kv_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            rope_theta: self.rope_theta,
            rms_norm_eps: self.rms_norm_eps,
            context_length: self.max_position_embeddings,
            rope_interleaved: false,
        }
    }

    /// End-of-sequence ids (`eos_token_id` may be a number or a list).
    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect(),
            _ => Vec::new(),
        }
    }
}

/// A model directory's files.
pub struct HfDir {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: serde_json::Value,
    pub weights: Vec<PathBuf>,
    pub tokenizer_path: PathBuf,
}

impl HfDir {
    /// Finds `config.json`, the safetensors shards (sorted) and `tokenizer.json` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, LlmError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| LlmError::io(&config_path, e))?;
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::bad_model(&config_path, format!("not valid JSON: {e}")))?;
        let mut weights: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| LlmError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        weights.sort();
        if weights.is_empty() {
            return Err(LlmError::bad_model(dir, "no *.safetensors file in the model directory"));
        }
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.exists() {
            return Err(LlmError::bad_model(dir, "no tokenizer.json in the model directory"));
        }
        Ok(Self { dir: dir.to_path_buf(), config_path, config, weights, tokenizer_path })
    }

    /// `config.json`'s `model_type` (empty if absent).
    pub fn model_type(&self) -> String {
        self.config.get("model_type").and_then(|v| v.as_str()).unwrap_or_default().to_string()
    }

    /// Parses `config.json` as `T`, naming the file in errors.
    pub fn parse_config<T: serde::de::DeserializeOwned>(&self) -> Result<T, LlmError> {
        serde_json::from_value(self.config.clone())
            .map_err(|e| LlmError::bad_model(&self.config_path, format!("unexpected config: {e}")))
    }

    /// All tensors of all shards.
    pub fn load_tensors(&self) -> Result<HashMap<String, Tensor>, LlmError> {
        let mut all = HashMap::new();
        for path in &self.weights {
            let tensors = candle_core::safetensors::load(path, &Device::Cpu)
                .map_err(|e| LlmError::bad_model(path, format!("cannot read safetensors: {e}")))?;
            all.extend(tensors);
        }
        Ok(all)
    }

    pub fn tokenizer(&self) -> Result<tokenizers::Tokenizer, LlmError> {
        tokenizers::Tokenizer::from_file(&self.tokenizer_path)
            .map_err(|e| LlmError::Tokenizer(format!("{}: {e}", self.tokenizer_path.display())))
    }

    /// The files a model id hashes: config, tokenizer and weights.
    pub fn id_files(&self) -> Vec<&Path> {
        let mut files = vec![self.config_path.as_path(), self.tokenizer_path.as_path()];
        files.extend(self.weights.iter().map(|p| p.as_path()));
        files
    }

    pub fn name(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "model".into())
    }
}
