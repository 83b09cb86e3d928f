//! Trained LoRA adapters in the two formats other runtimes read:
//!
//! - **PEFT** (Hugging Face): `adapter_model.safetensors` with tensors named
//!   `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight` (`lora_B` likewise,
//!   `mlp.` for gate/up/down) and an `adapter_config.json`, loadable by Python's
//!   `PeftModel.from_pretrained` over the Hugging Face base model.
//! - **llama.cpp GGUF LoRA** (the layout of llama.cpp's `convert_lora_to_gguf.py`): tensors
//!   `blk.{i}.attn_q.weight.lora_a` `[r, in]` and `.lora_b` `[out, r]` in f32, metadata
//!   `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha`; llama.cpp
//!   scales the update by α/r itself.
//!
//! GGUF llama checkpoints permute the q and k projection rows for interleaved RoPE; Hugging Face
//! ones do not. An adapter's `B` rows follow the base it was trained on, so each writer permutes
//! q/k `B` rows when the target layout differs (as `convert_hf_to_gguf.py`'s `permute` does).
//! Written by hand: candle's `gguf_file::write` does the GGUF container.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Tensor;
use serde::Serialize;

use crate::LlmError;
use crate::lora::{LoraAdapters, Projection};

/// File names inside a PEFT adapter directory.
pub const PEFT_WEIGHTS: &str = "adapter_model.safetensors";
pub const PEFT_CONFIG: &str = "adapter_config.json";

fn gguf_name(projection: Projection) -> &'static str {
    match projection {
        Projection::Q => "attn_q",
        Projection::K => "attn_k",
        Projection::V => "attn_v",
        Projection::O => "attn_output",
        Projection::Gate => "ffn_gate",
        Projection::Up => "ffn_up",
        Projection::Down => "ffn_down",
    }
}

fn peft_module(projection: Projection) -> &'static str {
    match projection {
        Projection::Q | Projection::K | Projection::V | Projection::O => "self_attn",
        Projection::Gate | Projection::Up | Projection::Down => "mlp",
    }
}

/// Row order of a `[heads·head_dim, r]` matrix between Hugging Face (halves: row `h, half, j`)
/// and GGUF (pairs: row `h, j, half`). `to_gguf` picks the direction.
fn permute_rows(b: &Tensor, heads: usize, to_gguf: bool) -> candle_core::Result<Tensor> {
    let (out, r) = b.dims2()?;
    let half = out / heads / 2;
    let t = if to_gguf { b.reshape((heads, 2, half, r))? } else { b.reshape((heads, half, 2, r))? };
    t.transpose(1, 2)?.contiguous()?.reshape((out, r))
}

#[derive(Serialize)]
struct PeftConfig<'a> {
    peft_type: &'static str,
    task_type: &'static str,
    base_model_name_or_path: &'a str,
    r: usize,
    lora_alpha: f64,
    lora_dropout: f64,
    bias: &'static str,
    fan_in_fan_out: bool,
    inference_mode: bool,
    target_modules: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layers_to_transform: Option<Vec<usize>>,
}

impl LoraAdapters {
    /// `B` of one adapter in the target row layout (`interleaved` = GGUF).
    fn b_for(&self, projection: Projection, b: &Tensor, interleaved: bool) -> candle_core::Result<Tensor> {
        let base = self.base();
        let heads = match projection {
            Projection::Q => base.num_heads,
            Projection::K => base.num_kv_heads,
            _ => return Ok(b.clone()),
        };
        if base.rope_interleaved == interleaved {
            Ok(b.clone())
        } else {
            permute_rows(b, heads, interleaved)
        }
    }

    /// Writes the adapters as a llama.cpp GGUF LoRA adapter for a `llama` architecture base.
    pub fn save_gguf(&self, path: &Path) -> Result<(), LlmError> {
        let bad = |e: candle_core::Error| LlmError::bad_model(path, format!("writing the GGUF adapter: {e}"));
        let mut tensors: Vec<(String, QTensor)> = Vec::new();
        for (&(layer, projection), adapter) in self.iter() {
            let stem = format!("blk.{layer}.{}.weight", gguf_name(projection));
            let b = self.b_for(projection, adapter.b.as_tensor(), true).map_err(bad)?;
            tensors.push((format!("{stem}.lora_a"), QTensor::quantize(adapter.a.as_tensor(), GgmlDType::F32).map_err(bad)?));
            tensors.push((format!("{stem}.lora_b"), QTensor::quantize(&b, GgmlDType::F32).map_err(bad)?));
        }
        let metadata = [
            ("general.architecture", Value::String("llama".into())),
            ("general.type", Value::String("adapter".into())),
            ("adapter.type", Value::String("lora".into())),
            ("adapter.lora.alpha", Value::F32(self.config().alpha as f32)),
        ];
        let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut file = std::fs::File::create(path).map_err(|e| LlmError::io(path, e))?;
        gguf_file::write(&mut file, &meta, &refs).map_err(bad)
    }

    /// Writes `dir/adapter_model.safetensors` and `dir/adapter_config.json` in PEFT's layout
    /// (Hugging Face row order), naming `base_model` as the base checkpoint.
    pub fn save_peft(&self, dir: &Path, base_model: &str) -> Result<(), LlmError> {
        std::fs::create_dir_all(dir).map_err(|e| LlmError::io(dir, e))?;
        let weights = dir.join(PEFT_WEIGHTS);
        let bad = |e: candle_core::Error| LlmError::bad_model(&weights, format!("writing PEFT adapters: {e}"));
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let mut layers: Vec<usize> = Vec::new();
        for (&(layer, projection), adapter) in self.iter() {
            let stem = format!("base_model.model.model.layers.{layer}.{}.{}", peft_module(projection), projection.name());
            tensors.insert(format!("{stem}.lora_A.weight"), adapter.a.as_tensor().clone());
            tensors.insert(format!("{stem}.lora_B.weight"), self.b_for(projection, adapter.b.as_tensor(), false).map_err(bad)?);
            if !layers.contains(&layer) {
                layers.push(layer);
            }
        }
        candle_core::safetensors::save(&tensors, &weights).map_err(bad)?;
        let config = self.config();
        let all_layers = layers.len() == self.base().num_layers;
        let peft = PeftConfig {
            peft_type: "LORA",
            task_type: "CAUSAL_LM",
            base_model_name_or_path: base_model,
            r: config.rank,
            lora_alpha: config.alpha,
            lora_dropout: 0.0,
            bias: "none",
            fan_in_fan_out: false,
            inference_mode: true,
            target_modules: config.targets.iter().map(|p| p.name()).collect(),
            layers_to_transform: (!all_layers).then_some(layers),
        };
        let path = dir.join(PEFT_CONFIG);
        let text = serde_json::to_string_pretty(&peft).map_err(|e| LlmError::Input(e.to_string()))?;
        std::fs::write(&path, text + "\n").map_err(|e| LlmError::io(&path, e))
    }
}

/// A fresh file name in the temporary directory for an adapter handed to llama.cpp.
#[cfg_attr(not(feature = "llama-cpp"), allow(dead_code))]
pub(crate) fn temp_path(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let safe: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(40).collect();
    std::env::temp_dir().join(format!("recforge-lora-{}-{}-{safe}.gguf", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_round_trips_and_moves_rows_as_convert_hf_to_gguf() {
        // 2 heads × head_dim 4, r = 1: HF rows [h0: a0 a1 | b0 b1, h1: ...] become pairs.
        let b = Tensor::from_vec((0..8).map(|v| v as f32).collect::<Vec<_>>(), (8, 1), &candle_core::Device::Cpu).unwrap();
        let g = permute_rows(&b, 2, true).unwrap();
        assert_eq!(g.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![0., 2., 1., 3., 4., 6., 5., 7.]);
        let back = permute_rows(&g, 2, false).unwrap();
        assert_eq!(back.flatten_all().unwrap().to_vec1::<f32>().unwrap(), (0..8).map(|v| v as f32).collect::<Vec<_>>());
    }
}
