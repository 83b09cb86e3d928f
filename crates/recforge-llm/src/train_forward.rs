//! The differentiable forward of the llama decoder with LoRA adapters.
//!
//! Same computation as [`Llama::forward_hidden`], but RMSNorm, softmax, RoPE and SiLU are
//! written with basic candle ops (candle's fused kernels have no backward), and each frozen
//! projection is a custom op whose backward returns only the input gradient: candle's matmul
//! backward would also compute a gradient for every frozen weight matrix (as much work again
//! as the input gradient) and throw it away. Gradients flow to the LoRA `A`/`B` variables
//! only; blocks below the lowest adapter are not even recorded for backward.

use candle_core::{CpuStorage, CustomOp1, D, Device, Layout, Shape, Tensor};

use crate::llama::{Llama, causal_mask};
use crate::lora::{LoraAdapters, Projection};

/// `x Wᵀ` with `W` frozen: `x: [n, in]`, `W: [out, in]` → `[n, out]`; backward gives `∂x` only.
struct FrozenLinear {
    w: Tensor,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("frozen-linear needs a contiguous input".into()))?;
        let x = Tensor::from_slice(&storage.as_slice::<f32>()?[start..end], layout.shape(), &Device::Cpu)?;
        let y = x.matmul(&self.w.t()?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad_res.matmul(&self.w)?))
    }
}

fn frozen_linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(FrozenLinear { w: w.clone() })
}

/// RMSNorm from basic ops: `x / √(mean(x²) + ε) ⊙ w` over the last dimension.
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)
}

/// Softmax over the last dimension from basic ops (the row max is a constant shift).
pub(crate) fn softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// RoPE on `x: [b, h, l, hd]` with `cos`, `sin`: `[l, hd/2]`. Interleaved pairs `(2i, 2i+1)`
/// (GGUF) or halves `(i, i + hd/2)` (Hugging Face).
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> candle_core::Result<Tensor> {
    let (b, h, l, hd) = x.dims4()?;
    if interleaved {
        let x = x.reshape((b, h, l, hd / 2, 2))?;
        let x0 = x.narrow(4, 0, 1)?;
        let x1 = x.narrow(4, 1, 1)?;
        let cos = cos.reshape((1, 1, l, hd / 2, 1))?;
        let sin = sin.reshape((1, 1, l, hd / 2, 1))?;
        let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
        let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
        Tensor::cat(&[r0, r1], 4)?.reshape((b, h, l, hd))
    } else {
        let x0 = x.narrow(3, 0, hd / 2)?;
        let x1 = x.narrow(3, hd / 2, hd / 2)?;
        let cos = cos.reshape((1, 1, l, hd / 2))?;
        let sin = sin.reshape((1, 1, l, hd / 2))?;
        let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
        let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
        Tensor::cat(&[r0, r1], 3)
    }
}

/// SiLU from basic ops: `x / (1 + e^{-x})`.
fn silu(x: &Tensor) -> candle_core::Result<Tensor> {
    x / (x.neg()?.exp()? + 1.0)?
}

impl LoraAdapters {
    /// `h: [n, in]` through projection `projection` of block `layer`, adapter included.
    fn project(&self, llama: &Llama, layer: usize, projection: Projection, h: &Tensor) -> candle_core::Result<Tensor> {
        let base = frozen_linear(h, &llama.blocks[layer].projection(projection).dense_weight()?)?;
        match self.get(layer, projection) {
            Some(ad) => base + (h.matmul(&ad.a.as_tensor().t()?)?.matmul(&ad.b.as_tensor().t()?)? * self.scale())?,
            None => Ok(base),
        }
    }

    /// The final-normed hidden states `[batch, len, hidden]` of `ids: [batch, len]` (right
    /// padding is fine: the mask is causal), differentiable with respect to the adapters.
    pub fn forward_hidden(&self, llama: &Llama, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let cfg = &llama.config;
        if len > cfg.context_length {
            candle_core::bail!("{len} positions exceed the context length {}", cfg.context_length);
        }
        let (hd, nh, nkv) = (cfg.head_dim(), cfg.num_heads, cfg.num_kv_heads);
        let cos = llama.cos.narrow(0, 0, len)?;
        let sin = llama.sin.narrow(0, 0, len)?;
        let mask = causal_mask(len, 0)?;
        let eps = cfg.rms_norm_eps;
        let mut x = llama.embeddings.index_select(&ids.flatten_all()?, 0)?; // [b*l, d]
        for (layer, block) in llama.blocks.iter().enumerate() {
            let h = rms_norm(&x, &block.attn_norm.weight, eps)?;
            let heads = |p: Projection, n: usize| -> candle_core::Result<Tensor> {
                self.project(llama, layer, p, &h)?.reshape((batch, len, n, hd))?.transpose(1, 2)?.contiguous()
            };
            let q = rope(&heads(Projection::Q, nh)?, &cos, &sin, cfg.rope_interleaved)?;
            let k = rope(&heads(Projection::K, nkv)?, &cos, &sin, cfg.rope_interleaved)?;
            let v = heads(Projection::V, nkv)?;
            let k = candle_transformers::utils::repeat_kv(k, nh / nkv)?.contiguous()?;
            let v = candle_transformers::utils::repeat_kv(v, nh / nkv)?.contiguous()?;
            let att = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?.broadcast_add(&mask)?; // [b, h, l, l]
            let y = softmax(&att)?.matmul(&v)?; // [b, h, l, hd]
            let y = y.transpose(1, 2)?.reshape((batch * len, nh * hd))?;
            x = (x + self.project(llama, layer, Projection::O, &y)?)?;
            let h = rms_norm(&x, &block.ffn_norm.weight, eps)?;
            let gate = silu(&self.project(llama, layer, Projection::Gate, &h)?)?;
            let up = self.project(llama, layer, Projection::Up, &h)?;
            x = (x + self.project(llama, layer, Projection::Down, &(gate * up)?)?)?;
        }
        rms_norm(&x, &llama.norm.weight, eps)?.reshape((batch, len, cfg.hidden_size))
    }

    /// Log-probabilities `[n]` of `targets[i]` at flat position `positions[i]` (row × len +
    /// column) of `hidden: [batch, len, hidden]`; logits are computed at those positions only.
    pub fn target_log_probs(&self, llama: &Llama, hidden: &Tensor, positions: &[u32], targets: &[u32]) -> candle_core::Result<Tensor> {
        let (b, l, d) = hidden.dims3()?;
        let flat = hidden.reshape((b * l, d))?;
        let picked = flat.index_select(&Tensor::new(positions, &Device::Cpu)?, 0)?;
        let logits = frozen_linear(&picked, &llama.output.dense_weight()?)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let targets = Tensor::new(targets, &Device::Cpu)?.unsqueeze(1)?;
        logp.gather(&targets, 1)?.squeeze(1)
    }
}
