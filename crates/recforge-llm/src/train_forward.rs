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
        Ok(Some(grad_res.contiguous()?.matmul(&self.w)?))
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

#[cfg(test)]
mod tests {
    use candle_core::{DType, IndexOp, Tensor};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use crate::llama::Llama;
    use crate::lora::{LoraAdapters, LoraConfig};
    use crate::{CausalLm, LoadOptions};

    fn tiny() -> (tempfile::TempDir, CausalLm) {
        let dir = tempfile::tempdir().unwrap();
        let path = crate::tiny::write_tiny_llama(dir.path(), 11).unwrap();
        let lm = CausalLm::load_with(&path, LoadOptions::default()).unwrap();
        (dir, lm)
    }

    fn llama(lm: &CausalLm) -> Llama {
        lm.llama().unwrap().clone()
    }

    /// Sets every `B` to small random values so that adapters change the output.
    fn randomize(adapters: &LoraAdapters, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        for (name, var) in adapters.named_vars() {
            if name.ends_with("lora_b") {
                let n = var.elem_count();
                let values: Vec<f32> = (0..n).map(|_| (rng.random::<f32>() * 2.0 - 1.0) * 0.3).collect();
                var.set(&Tensor::from_vec(values, var.shape(), var.device()).unwrap()).unwrap();
            }
        }
    }

    fn ids() -> Tensor {
        Tensor::new(&[[5u32, 70, 71, 72, 90, 100, 3], [40, 41, 42, 43, 44, 0, 0]], &candle_core::Device::Cpu).unwrap()
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    fn logits_of(model: &Llama, hidden: &Tensor) -> Tensor {
        let (b, l, d) = hidden.dims3().unwrap();
        model.logits(&hidden.reshape((b * l, d)).unwrap()).unwrap()
    }

    #[test]
    fn training_forward_matches_the_inference_forward_with_and_without_adapters() {
        let (_dir, lm) = tiny();
        for interleaved in [true, false] {
            let mut base = llama(&lm);
            base.config.rope_interleaved = interleaved;
            let adapters = LoraAdapters::new(base.config(), &LoraConfig { rank: 3, ..LoraConfig::default() }, 1).unwrap();
            // Zero-initialised B: the base model's logits exactly.
            let reference = logits_of(&base, &base.forward_hidden(&ids(), None).unwrap());
            let train = logits_of(&base, &adapters.forward_hidden(&base, &ids()).unwrap());
            assert!(max_abs_diff(&reference, &train) < 1e-4, "zero adapters changed the logits");
            let merged = adapters.merge_into(&base).unwrap();
            assert!(max_abs_diff(&reference, &logits_of(&merged, &merged.forward_hidden(&ids(), None).unwrap())) < 1e-5);
            // Random B: the training forward equals the merged inference forward.
            randomize(&adapters, 2);
            let merged = adapters.merge_into(&base).unwrap();
            let inference = logits_of(&merged, &merged.forward_hidden(&ids(), None).unwrap());
            let train = logits_of(&base, &adapters.forward_hidden(&base, &ids()).unwrap());
            assert!(max_abs_diff(&reference, &inference) > 1e-2, "random adapters must change the model");
            assert!(max_abs_diff(&inference, &train) < 1e-4, "interleaved {interleaved}: {}", max_abs_diff(&inference, &train));
        }
    }

    fn loss(adapters: &LoraAdapters, model: &Llama) -> Tensor {
        let hidden = adapters.forward_hidden(model, &ids()).unwrap();
        // Targets: next tokens of row 0 and the first three of row 1 (width 7).
        let positions = [0u32, 1, 2, 3, 4, 5, 7, 8, 9];
        let targets = [70u32, 71, 72, 90, 100, 3, 41, 42, 43];
        adapters.target_log_probs(model, &hidden, &positions, &targets).unwrap().mean_all().unwrap().neg().unwrap()
    }

    #[test]
    fn every_lora_weight_gets_a_gradient_and_no_base_weight_does() {
        let (_dir, lm) = tiny();
        let base = llama(&lm);
        let adapters = LoraAdapters::new(base.config(), &LoraConfig { rank: 2, ..LoraConfig::default() }, 3).unwrap();
        randomize(&adapters, 4);
        let grads = loss(&adapters, &base).backward().unwrap();
        let vars = adapters.named_vars();
        assert_eq!(vars.len(), 2 * 7 * base.config.num_layers);
        for (name, var) in &vars {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name} got no gradient"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{name}: gradient norm {norm}");
        }
        let mut base_tensors = vec![base.embeddings.clone(), base.norm.weight.clone(), base.output.dense_weight().unwrap()];
        for block in &base.blocks {
            base_tensors.push(block.attn_norm.weight.clone());
            base_tensors.push(block.ffn_norm.weight.clone());
            for p in crate::lora::Projection::ALL {
                base_tensors.push(block.projection(p).dense_weight().unwrap());
            }
        }
        for t in &base_tensors {
            assert!(grads.get(t).is_none(), "a frozen base weight received a gradient");
        }
        // Adapting only the top layer records nothing for backward below it.
        let top = LoraAdapters::new(base.config(), &LoraConfig { rank: 2, layers: Some(1), ..LoraConfig::default() }, 3).unwrap();
        assert_eq!(top.named_vars().len(), 14);
        assert!(top.named_vars().iter().all(|(n, _)| n.starts_with(&format!("layers.{}.", base.config.num_layers - 1))));
    }

    #[test]
    fn gradients_match_finite_differences_of_the_inference_forward() {
        let (_dir, lm) = tiny();
        let base = llama(&lm);
        let adapters = LoraAdapters::new(base.config(), &LoraConfig { rank: 2, ..LoraConfig::default() }, 5).unwrap();
        randomize(&adapters, 6);
        let grads = loss(&adapters, &base).backward().unwrap();
        // The loss recomputed in f64 from the merged model's ordinary (fused-kernel) forward.
        let inference_loss = |adapters: &LoraAdapters| -> f64 {
            let merged = adapters.merge_into(&base).unwrap();
            let hidden = merged.forward_hidden(&ids(), None).unwrap();
            let rows = [(0usize, 0usize, 70u32), (0, 1, 71), (0, 2, 72), (0, 3, 90), (0, 4, 100), (0, 5, 3), (1, 0, 41), (1, 1, 42), (1, 2, 43)];
            let mut total = 0.0;
            for (r, p, t) in rows {
                let logits = merged.logits(&hidden.i((r, p)).unwrap().unsqueeze(0).unwrap()).unwrap();
                let logp = crate::llama::log_softmax(&logits.to_dtype(DType::F64).unwrap()).unwrap().to_vec2::<f64>().unwrap();
                total -= logp[0][t as usize];
            }
            total / rows.len() as f64
        };
        let eps = 1e-2f32;
        let mut checked = 0;
        for (name, var) in adapters.named_vars().into_iter().step_by(5) {
            let g = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let original = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let index = g.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
            let nudged = |delta: f32| {
                let mut v = original.clone();
                v[index] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), var.device()).unwrap()).unwrap();
                let l = inference_loss(&adapters);
                var.set(&Tensor::from_vec(original.clone(), var.shape(), var.device()).unwrap()).unwrap();
                l
            };
            let numeric = (nudged(eps) - nudged(-eps)) / (2.0 * eps as f64);
            let analytic = g[index] as f64;
            assert!((numeric - analytic).abs() < 2e-2 * (1.0 + analytic.abs()), "{name}[{index}]: analytic {analytic} vs numeric {numeric}");
            checked += 1;
        }
        assert!(checked >= 5);
    }

    #[test]
    fn adapters_round_trip_through_safetensors_and_merge_into_the_causal_lm() {
        let (dir, lm) = tiny();
        let base = llama(&lm);
        let config = LoraConfig { rank: 2, layers: Some(1), ..LoraConfig::default() };
        let adapters = LoraAdapters::new(base.config(), &config, 7).unwrap();
        randomize(&adapters, 8);
        let path = dir.path().join("adapter.safetensors");
        adapters.save(&path).unwrap();
        let loaded = LoraAdapters::load(&path, base.config(), &config).unwrap();
        for ((n1, v1), (n2, v2)) in adapters.named_vars().iter().zip(loaded.named_vars().iter()) {
            assert_eq!(n1, n2);
            assert_eq!(max_abs_diff(v1.as_tensor(), v2.as_tensor()), 0.0);
        }
        let wrong = LoraConfig { rank: 3, ..config.clone() };
        assert!(LoraAdapters::load(&path, base.config(), &wrong).unwrap_err().to_string().contains("expected"));
        // Continuation scores of the adapted CausalLm equal log-likelihood differences.
        let text = "the cat sat";
        let base_ll = lm.log_likelihood(&[text.to_string()]).unwrap()[0].0;
        let adapted = lm.with_adapters(&loaded, "test").unwrap();
        assert!(adapted.model_id().ends_with("+lora-test"));
        let adapted_ll = adapted.log_likelihood(&[text.to_string()]).unwrap()[0].0;
        assert!((base_ll - adapted_ll).abs() > 1e-3);
        let prompt = adapted.prompt_ids("the c").unwrap();
        let whole = adapted.prompt_ids(text).unwrap();
        let (head, tail) = whole.split_at(prompt.len());
        assert_eq!(head, prompt.as_slice());
        let score = adapted.continuation_log_probs(&prompt, &[tail.to_vec(), tail[..1].to_vec()]).unwrap();
        let ll = |s: &str| adapted.log_likelihood(&[s.to_string()]).unwrap()[0].0;
        assert!((score[0] - (adapted_ll - ll("the c"))).abs() < 1e-3, "{} vs {}", score[0], adapted_ll - ll("the c"));
        let mut decoder = adapted.decoder(&prompt).unwrap();
        let first = decoder.log_probs()[0][tail[0] as usize] as f64;
        assert!((first - score[1]).abs() < 1e-4);
        decoder.advance(&[0, 0], &[tail[0], tail[0]]).unwrap();
        assert_eq!(decoder.log_probs().len(), 2);
    }
}
