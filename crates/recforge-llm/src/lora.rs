//! LoRA adapters (Hu et al., arXiv 2106.09685) for the llama decoder's projections.
//!
//! An adapted projection computes `y = x Wᵀ + (α/r)·(x Aᵀ) Bᵀ` with the base `W: [out, in]`
//! frozen, `A: [r, in]` drawn uniformly in ±1/√in and `B: [out, r]` zero, so a fresh adapter
//! reproduces the base model exactly. Adapters sit on the attention (q, k, v, o) and MLP
//! (gate, up, down) projections of every layer or of the top `layers` layers; they are saved
//! as safetensors (`layers.{i}.{proj}.lora_a` / `lora_b`) and folded into a plain [`Llama`]
//! by [`LoraAdapters::merge_into`] for inference at the base model's speed; `lora_export` writes
//! them for PEFT and as llama.cpp GGUF adapters.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::LlmError;
use crate::llama::{Linear, Llama, LlamaConfig};

/// A projection of a llama block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Projection {
    pub const ALL: [Projection; 7] =
        [Projection::Q, Projection::K, Projection::V, Projection::O, Projection::Gate, Projection::Up, Projection::Down];

    pub fn name(self) -> &'static str {
        match self {
            Projection::Q => "q_proj",
            Projection::K => "k_proj",
            Projection::V => "v_proj",
            Projection::O => "o_proj",
            Projection::Gate => "gate_proj",
            Projection::Up => "up_proj",
            Projection::Down => "down_proj",
        }
    }

    /// `(in, out)` features of this projection in `model`.
    pub fn dims(self, model: &LlamaConfig) -> (usize, usize) {
        let (d, kv, inter) = (model.hidden_size, model.num_kv_heads * model.head_dim(), model.intermediate_size);
        match self {
            Projection::Q | Projection::O => (d, d),
            Projection::K | Projection::V => (d, kv),
            Projection::Gate | Projection::Up => (d, inter),
            Projection::Down => (inter, d),
        }
    }
}

/// Where adapters go and how big they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank r of each adapter.
    pub rank: usize,
    /// Scale numerator: the update is multiplied by α / r.
    pub alpha: f64,
    /// Adapt only the top `layers` blocks (all blocks when `None`).
    pub layers: Option<usize>,
    pub targets: Vec<Projection>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self { rank: 8, alpha: 16.0, layers: None, targets: Projection::ALL.to_vec() }
    }
}

/// One adapter: `A: [r, in]`, `B: [out, r]`.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    pub a: Var,
    pub b: Var,
}

/// Every adapter of a model, keyed by (layer, projection).
#[derive(Debug, Clone)]
pub struct LoraAdapters {
    config: LoraConfig,
    /// The base model's shapes and row layout (GGUF-permuted or Hugging Face q/k rows).
    base: LlamaConfig,
    adapters: BTreeMap<(usize, Projection), LoraAdapter>,
}

fn tensor_name(layer: usize, projection: Projection, part: &str) -> String {
    format!("layers.{layer}.{}.{part}", projection.name())
}

impl LoraAdapters {
    /// Fresh adapters for `model`: `A` uniform in ±1/√in (seeded), `B` zero.
    pub fn new(model: &LlamaConfig, config: &LoraConfig, seed: u64) -> Result<Self, LlmError> {
        if config.rank == 0 {
            return Err(LlmError::Input("LoRA rank must be at least 1".into()));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut adapters = BTreeMap::new();
        for layer in Self::adapted_layers(model, config) {
            for &projection in &config.targets {
                let (inp, out) = projection.dims(model);
                let bound = 1.0 / (inp as f32).sqrt();
                let values: Vec<f32> = (0..config.rank * inp).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * bound).collect();
                let a = Var::from_tensor(&Tensor::from_vec(values, (config.rank, inp), &Device::Cpu)?)?;
                let b = Var::zeros((out, config.rank), DType::F32, &Device::Cpu)?;
                adapters.insert((layer, projection), LoraAdapter { a, b });
            }
        }
        Ok(Self { config: config.clone(), base: model.clone(), adapters })
    }

    fn adapted_layers(model: &LlamaConfig, config: &LoraConfig) -> std::ops::Range<usize> {
        let n = config.layers.unwrap_or(model.num_layers).min(model.num_layers);
        model.num_layers - n..model.num_layers
    }

    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// The base model the adapters were made for.
    pub fn base(&self) -> &LlamaConfig {
        &self.base
    }

    /// Every adapter by (layer, projection), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&(usize, Projection), &LoraAdapter)> {
        self.adapters.iter()
    }

    /// α / r.
    pub fn scale(&self) -> f64 {
        self.config.alpha / self.config.rank as f64
    }

    pub fn get(&self, layer: usize, projection: Projection) -> Option<&LoraAdapter> {
        self.adapters.get(&(layer, projection))
    }

    /// Every trainable tensor with its checkpoint name, in a fixed order.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::with_capacity(2 * self.adapters.len());
        for (&(layer, projection), adapter) in &self.adapters {
            out.push((tensor_name(layer, projection, "lora_a"), adapter.a.clone()));
            out.push((tensor_name(layer, projection, "lora_b"), adapter.b.clone()));
        }
        out
    }

    /// Number of trainable weights.
    pub fn num_parameters(&self) -> usize {
        self.adapters.values().map(|a| a.a.elem_count() + a.b.elem_count()).sum()
    }

    /// Writes the adapter weights as safetensors.
    pub fn save(&self, path: &Path) -> Result<(), LlmError> {
        let tensors: HashMap<String, Tensor> = self.named_vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        candle_core::safetensors::save(&tensors, path).map_err(|e| LlmError::bad_model(path, format!("writing adapters: {e}")))
    }

    /// Reads adapters written by [`save`](Self::save) for `model` under `config`; a missing
    /// tensor or a shape that does not fit the model is an error naming it.
    pub fn load(path: &Path, model: &LlamaConfig, config: &LoraConfig) -> Result<Self, LlmError> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| LlmError::bad_model(path, format!("reading adapters: {e}")))?;
        let mut adapters = BTreeMap::new();
        for layer in Self::adapted_layers(model, config) {
            for &projection in &config.targets {
                let (inp, out) = projection.dims(model);
                let get = |part: &str, shape: (usize, usize)| -> Result<Var, LlmError> {
                    let name = tensor_name(layer, projection, part);
                    let t = tensors.get(&name).ok_or_else(|| LlmError::bad_model(path, format!("no tensor `{name}`")))?;
                    if t.dims() != [shape.0, shape.1] {
                        return Err(LlmError::bad_model(path, format!("tensor `{name}` has shape {:?}, expected {shape:?}", t.dims())));
                    }
                    Ok(Var::from_tensor(&t.to_dtype(DType::F32)?)?)
                };
                let a = get("lora_a", (config.rank, inp))?;
                let b = get("lora_b", (out, config.rank))?;
                adapters.insert((layer, projection), LoraAdapter { a, b });
            }
        }
        Ok(Self { config: config.clone(), base: model.clone(), adapters })
    }

    /// `W + (α/r)·B A` of one adapter, or `W` unchanged when the projection has none.
    pub(crate) fn merged_weight(&self, layer: usize, projection: Projection, base: &Linear) -> candle_core::Result<Tensor> {
        let w = base.dense_weight()?;
        match self.get(layer, projection) {
            Some(ad) => w + (ad.b.as_tensor().matmul(ad.a.as_tensor())? * self.scale())?,
            None => Ok(w),
        }
    }

    /// A copy of `llama` with every adapter folded into its projection (dense f32 weights).
    pub fn merge_into(&self, llama: &Llama) -> Result<Llama, LlmError> {
        let mut merged = llama.clone();
        for (layer, block) in merged.blocks.iter_mut().enumerate() {
            for projection in Projection::ALL {
                let linear = block.projection_mut(projection);
                if self.get(layer, projection).is_some() {
                    *linear = Linear::dense(self.merged_weight(layer, projection, linear)?);
                }
            }
        }
        Ok(merged)
    }
}
