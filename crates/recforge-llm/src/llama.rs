//! A llama-family decoder (SmolLM2, Llama, Mistral) written with plain candle ops.
//!
//! Pre-norm blocks: `x += Wo·attn(RoPE(Wq·n(x)), RoPE(Wk·n(x)), Wv·n(x))`, then
//! `x += Wdown·(silu(Wgate·n(x)) ⊙ Wup·n(x))`, grouped-query attention, RMSNorm.
//! The same module runs GGUF weights (kept quantized or dequantized to f32) and Hugging Face
//! safetensors; unlike candle-transformers' `quantized_llama` it returns the hidden state of
//! every position (needed for log-likelihoods and right-padded batches) and keeps no state
//! inside the model (the KV cache is a value the caller owns), so one model serves many
//! threads through `&self`. Only RMSNorm, softmax and RoPE use candle's fused kernels, which
//! have no backward; fine-tuning (issue 8) must swap those three calls for plain ops.

use std::path::Path;

use candle_core::quantized::{QMatMul, QTensor, gguf_file};
use candle_core::{D, DType, Device, IndexOp, Module, Tensor};

use crate::LlmError;

/// Shapes and constants of a llama-family model.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub rope_theta: f32,
    pub rms_norm_eps: f64,
    pub context_length: usize,
    /// GGUF llama weights are permuted for interleaved RoPE (pairs `2i, 2i+1`); Hugging Face
    /// checkpoints rotate halves (pairs `i, i + d/2`).
    pub rope_interleaved: bool,
}

impl LlamaConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }
}

/// How GGUF weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// Dequantized to f32 at load time: 4 bytes per weight, dense GEMM (the faster path for
    /// batched prompt scoring on CPUs with AVX-512).
    #[default]
    F32,
    /// Kept in the file's quantized blocks (Q4_1, Q8_0, ...): candle's quantized matmul.
    Quantized,
}

/// A linear map `y = x Wᵀ` over `x: [n, in]`, `W: [out, in]`, quantized or dense.
#[derive(Debug, Clone)]
pub(crate) struct Linear(pub(crate) QMatMul);

impl Linear {
    fn from_qtensor(q: QTensor, format: WeightFormat) -> Result<Self, LlmError> {
        Ok(Self(match format {
            WeightFormat::Quantized => QMatMul::from_qtensor(q)?,
            WeightFormat::F32 => QMatMul::Tensor(q.dequantize(&Device::Cpu)?),
        }))
    }

    pub(crate) fn dense(w: Tensor) -> Self {
        Self(QMatMul::Tensor(w))
    }

    /// The weight `[out, in]` as a dense f32 tensor (dequantized when held quantized).
    pub(crate) fn dense_weight(&self) -> candle_core::Result<Tensor> {
        match &self.0 {
            QMatMul::Tensor(w) => Ok(w.clone()),
            QMatMul::TensorF16(w) => w.to_dtype(DType::F32),
            QMatMul::QTensor(q) => q.dequantize(&Device::Cpu),
        }
    }

    /// `x: [n, in]` → `[n, out]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.0.forward(x)
    }
}

/// RMSNorm with a learned scale (candle's fused kernel).
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    pub(crate) weight: Tensor,
    pub(crate) eps: f32,
}

impl RmsNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(x, &self.weight, self.eps)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) attn_norm: RmsNorm,
    pub(crate) wq: Linear,
    pub(crate) wk: Linear,
    pub(crate) wv: Linear,
    pub(crate) wo: Linear,
    pub(crate) ffn_norm: RmsNorm,
    pub(crate) w_gate: Linear,
    pub(crate) w_up: Linear,
    pub(crate) w_down: Linear,
}

impl Block {
    /// The linear map behind `projection`.
    pub(crate) fn projection(&self, projection: crate::lora::Projection) -> &Linear {
        use crate::lora::Projection as P;
        match projection {
            P::Q => &self.wq,
            P::K => &self.wk,
            P::V => &self.wv,
            P::O => &self.wo,
            P::Gate => &self.w_gate,
            P::Up => &self.w_up,
            P::Down => &self.w_down,
        }
    }

    pub(crate) fn projection_mut(&mut self, projection: crate::lora::Projection) -> &mut Linear {
        use crate::lora::Projection as P;
        match projection {
            P::Q => &mut self.wq,
            P::K => &mut self.wk,
            P::V => &mut self.wv,
            P::O => &mut self.wo,
            P::Gate => &mut self.w_gate,
            P::Up => &mut self.w_up,
            P::Down => &mut self.w_down,
        }
    }
}

/// Keys and values of the positions already run, per layer: `[batch, kv_heads, len, head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cache with its batch rows picked by `rows` (repeats allowed): row `i` of the result
    /// is row `rows[i]` of this cache. Beam search reorders beams with it; a one-row prompt
    /// cache repeated `n` times serves `n` continuations.
    pub fn select_rows(&self, rows: &[u32]) -> candle_core::Result<KvCache> {
        let index = Tensor::new(rows, &Device::Cpu)?;
        let layers = self
            .layers
            .iter()
            .map(|layer| match layer {
                Some((k, v)) => Ok(Some((k.index_select(&index, 0)?, v.index_select(&index, 0)?))),
                None => Ok(None),
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(KvCache { layers })
    }
}

/// The decoder: token embeddings, blocks, final norm and the output projection.
#[derive(Debug, Clone)]
pub struct Llama {
    pub(crate) config: LlamaConfig,
    pub(crate) embeddings: Tensor,
    pub(crate) blocks: Vec<Block>,
    pub(crate) norm: RmsNorm,
    pub(crate) output: Linear,
    pub(crate) cos: Tensor,
    pub(crate) sin: Tensor,
}

fn rope_tables(config: &LlamaConfig) -> candle_core::Result<(Tensor, Tensor)> {
    let head_dim = config.head_dim();
    let inv_freq: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / config.rope_theta.powf(i as f32 / head_dim as f32))
        .collect();
    let n = inv_freq.len();
    let inv_freq = Tensor::from_vec(inv_freq, (1, n), &Device::Cpu)?;
    let positions = Tensor::arange(0u32, config.context_length as u32, &Device::Cpu)?
        .to_dtype(DType::F32)?
        .reshape((config.context_length, 1))?;
    let angles = positions.matmul(&inv_freq)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Additive causal mask `[q_len, past + q_len]`: 0 where key ≤ query, -inf after.
pub(crate) fn causal_mask(q_len: usize, past: usize) -> candle_core::Result<Tensor> {
    let kv_len = past + q_len;
    let values: Vec<f32> = (0..q_len)
        .flat_map(|i| (0..kv_len).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(values, (q_len, kv_len), &Device::Cpu)
}

impl Llama {
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Loads a llama-architecture GGUF file whose header `content` was read from `reader`.
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        path: &Path,
        format: WeightFormat,
    ) -> Result<Self, LlmError> {
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            return Err(LlmError::bad_model(
                path,
                format!("GGUF architecture `{arch}` is not supported (only `llama`)"),
            ));
        }
        let meta = |key: &str| {
            content
                .metadata
                .get(&format!("llama.{key}"))
                .ok_or_else(|| LlmError::bad_model(path, format!("GGUF metadata has no `llama.{key}`")))
        };
        let get_usize = |key: &str| -> Result<usize, LlmError> {
            meta(key)?
                .to_u32()
                .map(|v| v as usize)
                .map_err(|e| LlmError::bad_model(path, format!("`llama.{key}`: {e}")))
        };
        let tensor = |reader: &mut R, name: &str| {
            content
                .tensor(reader, name, &Device::Cpu)
                .map_err(|e| LlmError::bad_model(path, format!("tensor `{name}`: {e}")))
        };
        let embeddings_q = tensor(reader, "token_embd.weight")?;
        let embeddings = embeddings_q.dequantize(&Device::Cpu)?;
        let (vocab_size, hidden_size) = embeddings.dims2()?;
        let num_heads = get_usize("attention.head_count")?;
        let config = LlamaConfig {
            vocab_size,
            hidden_size,
            intermediate_size: get_usize("feed_forward_length")?,
            num_layers: get_usize("block_count")?,
            num_heads,
            num_kv_heads: get_usize("attention.head_count_kv").unwrap_or(num_heads),
            rope_theta: meta("rope.freq_base").and_then(|v| v.to_f32().map_err(|e| LlmError::bad_model(path, e.to_string()))).unwrap_or(10_000.0),
            rms_norm_eps: meta("attention.layer_norm_rms_epsilon")
                .and_then(|v| v.to_f32().map_err(|e| LlmError::bad_model(path, e.to_string())))
                .unwrap_or(1e-5) as f64,
            context_length: get_usize("context_length").unwrap_or(2048),
            rope_interleaved: true,
        };
        let norm = |reader: &mut R, name: &str| -> Result<RmsNorm, LlmError> {
            Ok(RmsNorm { weight: tensor(reader, name)?.dequantize(&Device::Cpu)?, eps: config.rms_norm_eps as f32 })
        };
        let linear = |reader: &mut R, name: &str| Linear::from_qtensor(tensor(reader, name)?, format);
        let mut blocks = Vec::with_capacity(config.num_layers);
        for i in 0..config.num_layers {
            let p = format!("blk.{i}");
            blocks.push(Block {
                attn_norm: norm(reader, &format!("{p}.attn_norm.weight"))?,
                wq: linear(reader, &format!("{p}.attn_q.weight"))?,
                wk: linear(reader, &format!("{p}.attn_k.weight"))?,
                wv: linear(reader, &format!("{p}.attn_v.weight"))?,
                wo: linear(reader, &format!("{p}.attn_output.weight"))?,
                ffn_norm: norm(reader, &format!("{p}.ffn_norm.weight"))?,
                w_gate: linear(reader, &format!("{p}.ffn_gate.weight"))?,
                w_up: linear(reader, &format!("{p}.ffn_up.weight"))?,
                w_down: linear(reader, &format!("{p}.ffn_down.weight"))?,
            });
        }
        let output = match content.tensor(reader, "output.weight", &Device::Cpu) {
            Ok(q) => Linear::from_qtensor(q, format)?,
            Err(_) => Linear::from_qtensor(embeddings_q, format)?,
        };
        let norm = norm(reader, "output_norm.weight")?;
        let (cos, sin) = rope_tables(&config)?;
        Ok(Self { config, embeddings, blocks, norm, output, cos, sin })
    }

    /// Builds the model from Hugging Face tensors (`model.layers.{i}.self_attn.q_proj.weight`, ...).
    pub fn from_hf_tensors(
        config: LlamaConfig,
        tensors: &std::collections::HashMap<String, Tensor>,
        tie_word_embeddings: bool,
        path: &Path,
    ) -> Result<Self, LlmError> {
        let get = |name: &str| -> Result<Tensor, LlmError> {
            tensors
                .get(name)
                .ok_or_else(|| LlmError::bad_model(path, format!("no tensor `{name}`")))?
                .to_dtype(DType::F32)
                .map_err(Into::into)
        };
        let norm = |name: &str| -> Result<RmsNorm, LlmError> {
            Ok(RmsNorm { weight: get(name)?, eps: config.rms_norm_eps as f32 })
        };
        let embeddings = get("model.embed_tokens.weight")?;
        let mut blocks = Vec::with_capacity(config.num_layers);
        for i in 0..config.num_layers {
            let p = format!("model.layers.{i}");
            let lin = |n: &str| get(&format!("{p}.{n}.weight")).map(Linear::dense);
            blocks.push(Block {
                attn_norm: norm(&format!("{p}.input_layernorm.weight"))?,
                wq: lin("self_attn.q_proj")?,
                wk: lin("self_attn.k_proj")?,
                wv: lin("self_attn.v_proj")?,
                wo: lin("self_attn.o_proj")?,
                ffn_norm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
                w_gate: lin("mlp.gate_proj")?,
                w_up: lin("mlp.up_proj")?,
                w_down: lin("mlp.down_proj")?,
            });
        }
        let output = if tie_word_embeddings || !tensors.contains_key("lm_head.weight") {
            Linear::dense(embeddings.clone())
        } else {
            Linear::dense(get("lm_head.weight")?)
        };
        let norm = norm("model.norm.weight")?;
        let (cos, sin) = rope_tables(&config)?;
        Ok(Self { config, embeddings, blocks, norm, output, cos, sin })
    }

    /// Runs `ids: [batch, len]` after the `cache.len()` positions already in `cache` and returns
    /// the final-normed hidden states `[batch, len, hidden]`. Rows are independent; with
    /// right padding a row's real positions never see its padding (the mask is causal).
    pub fn forward_hidden(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> candle_core::Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        if past + len > self.config.context_length {
            candle_core::bail!(
                "{} positions exceed the context length {}",
                past + len,
                self.config.context_length
            );
        }
        let cfg = &self.config;
        let (hd, nh, nkv) = (cfg.head_dim(), cfg.num_heads, cfg.num_kv_heads);
        let cos = self.cos.narrow(0, past, len)?;
        let sin = self.sin.narrow(0, past, len)?;
        let mask = if len > 1 { Some(causal_mask(len, past)?) } else { None };
        let mut x = self.embeddings.index_select(&ids.flatten_all()?, 0)?; // [b*l, d]
        let mut cache = cache;
        if let Some(c) = cache.as_deref_mut() {
            c.layers.resize(cfg.num_layers, None);
        }
        let rope = |t: &Tensor| {
            if cfg.rope_interleaved {
                candle_nn::rotary_emb::rope_i(t, &cos, &sin)
            } else {
                candle_nn::rotary_emb::rope(t, &cos, &sin)
            }
        };
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = block.attn_norm.forward(&x)?;
            let q = block.wq.forward(&h)?.reshape((batch, len, nh, hd))?.transpose(1, 2)?.contiguous()?;
            let k = block.wk.forward(&h)?.reshape((batch, len, nkv, hd))?.transpose(1, 2)?.contiguous()?;
            let v = block.wv.forward(&h)?.reshape((batch, len, nkv, hd))?.transpose(1, 2)?.contiguous()?;
            let q = rope(&q)?;
            let mut k = rope(&k)?;
            let mut v = v;
            if let Some(c) = cache.as_deref_mut() {
                if let Some((pk, pv)) = &c.layers[layer] {
                    k = Tensor::cat(&[pk, &k], 2)?;
                    v = Tensor::cat(&[pv, &v], 2)?;
                }
                c.layers[layer] = Some((k.clone(), v.clone()));
            }
            let k = candle_transformers::utils::repeat_kv(k, nh / nkv)?;
            let v = candle_transformers::utils::repeat_kv(v, nh / nkv)?;
            let mut att = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?; // [b, h, l, past+l]
            if let Some(m) = &mask {
                att = att.broadcast_add(m)?;
            }
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v.contiguous()?)?; // [b, h, l, hd]
            let y = y.transpose(1, 2)?.reshape((batch * len, nh * hd))?;
            x = (x + block.wo.forward(&y)?)?;
            let h = block.ffn_norm.forward(&x)?;
            let gate = candle_nn::ops::silu(&block.w_gate.forward(&h)?)?;
            let up = block.w_up.forward(&h)?;
            x = (x + block.w_down.forward(&(gate * up)?)?)?;
        }
        self.norm.forward(&x)?.reshape((batch, len, cfg.hidden_size))
    }

    /// Output projection: `hidden: [n, hidden]` → logits `[n, vocab]`.
    pub fn logits(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        self.output.forward(hidden)
    }

    /// Logits `[vocab]` of the next token after one row run through `forward_hidden`.
    pub fn last_logits(&self, hidden: &Tensor, row: usize, position: usize) -> candle_core::Result<Tensor> {
        let h = hidden.i((row, position))?.unsqueeze(0)?;
        self.logits(&h)?.squeeze(0)
    }
}

/// Log-softmax over the last dimension of `logits: [n, vocab]`.
pub(crate) fn log_softmax(logits: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::ops::log_softmax(logits, D::Minus1)
}
