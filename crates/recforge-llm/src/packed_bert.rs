//! The BERT encoder forward over *packed* sentences: the tokens of a whole batch are laid end to
//! end in one `[tokens][hidden]` buffer with no padding, so every dense layer is one GEMM over
//! exactly the real tokens and only attention looks at sentence boundaries (each sentence
//! attends to its own tokens, which is what a padding mask achieves, without computing the
//! padded rows). A sentence's embedding therefore cannot depend on what it is batched with.
//!
//! Same weights and arithmetic as candle's `BertModel` (the reference it is tested against):
//! embeddings (word + position + type) → LayerNorm → L × [self-attention → dense → residual +
//! LayerNorm → dense → GELU → dense → residual + LayerNorm]. GEMMs through the `gemm` crate
//! (multithreaded), attention, LayerNorm and GELU parallel over sentences / row blocks with rayon.

use std::collections::HashMap;

use candle_core::Tensor;
use candle_transformers::models::bert::{Config, HiddenAct, PositionEmbeddingType};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::LlmError;

/// Rows per rayon task in the row-wise kernels (LayerNorm, bias, activation).
const ROWS_PER_TASK: usize = 32;

/// `y = x · Wᵀ + b` for `W [out][in]` (PyTorch's `nn.Linear` layout).
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inp: usize,
    out: usize,
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value fused: `[3·hidden][hidden]`.
    qkv: Dense,
    attn_out: Dense,
    attn_ln: LayerNorm,
    up: Dense,
    down: Dense,
    out_ln: LayerNorm,
}

/// A BERT encoder's weights as flat f32 buffers.
pub(crate) struct PackedBert {
    hidden: usize,
    heads: usize,
    eps: f32,
    act: HiddenAct,
    vocab: usize,
    max_positions: usize,
    type_vocab: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
}

/// One packed batch: `ids`/`types` of every token, sentence `s` spanning `offsets[s]..offsets[s + 1]`.
pub(crate) struct Packed<'a> {
    pub ids: &'a [u32],
    pub types: &'a [u32],
    pub offsets: &'a [usize],
}

/// Tensors by name, with the `bert.` prefix some checkpoints carry resolved.
struct Weights<'a> {
    tensors: &'a HashMap<String, Tensor>,
    prefix: &'static str,
}

impl Weights<'_> {
    fn get(&self, name: &str, len: usize) -> Result<Vec<f32>, LlmError> {
        let full = format!("{}{name}", self.prefix);
        let t = self.tensors.get(&full).ok_or_else(|| LlmError::Input(format!("BERT weights: tensor `{full}` is missing")))?;
        let v = t.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        if v.len() != len {
            return Err(LlmError::Input(format!("BERT weights: `{full}` has {} values, expected {len}", v.len())));
        }
        Ok(v)
    }

    /// LayerNorm weights, named `weight`/`bias` or (older checkpoints) `gamma`/`beta`.
    fn layer_norm(&self, name: &str, hidden: usize) -> Result<LayerNorm, LlmError> {
        let gamma = self.get(&format!("{name}.weight"), hidden).or_else(|_| self.get(&format!("{name}.gamma"), hidden))?;
        let beta = self.get(&format!("{name}.bias"), hidden).or_else(|_| self.get(&format!("{name}.beta"), hidden))?;
        Ok(LayerNorm { gamma, beta })
    }

    fn dense(&self, name: &str, inp: usize, out: usize) -> Result<Dense, LlmError> {
        Ok(Dense { weight: self.get(&format!("{name}.weight"), inp * out)?, bias: self.get(&format!("{name}.bias"), out)?, inp, out })
    }
}

impl PackedBert {
    pub(crate) fn load(tensors: &HashMap<String, Tensor>, config: &Config) -> Result<Self, LlmError> {
        if config.position_embedding_type != PositionEmbeddingType::Absolute {
            return Err(LlmError::Input("BERT: only absolute position embeddings are supported".into()));
        }
        let (h, heads) = (config.hidden_size, config.num_attention_heads);
        if heads == 0 || h % heads != 0 {
            return Err(LlmError::Input(format!("BERT: hidden size {h} is not a multiple of {heads} heads")));
        }
        let prefix = if tensors.contains_key("embeddings.word_embeddings.weight") { "" } else { "bert." };
        let w = Weights { tensors, prefix };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                let (q, k, v) = (
                    w.dense(&format!("{p}.attention.self.query"), h, h)?,
                    w.dense(&format!("{p}.attention.self.key"), h, h)?,
                    w.dense(&format!("{p}.attention.self.value"), h, h)?,
                );
                let qkv = Dense { weight: [q.weight, k.weight, v.weight].concat(), bias: [q.bias, k.bias, v.bias].concat(), inp: h, out: 3 * h };
                Ok(Layer {
                    qkv,
                    attn_out: w.dense(&format!("{p}.attention.output.dense"), h, h)?,
                    attn_ln: w.layer_norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                    up: w.dense(&format!("{p}.intermediate.dense"), h, config.intermediate_size)?,
                    down: w.dense(&format!("{p}.output.dense"), config.intermediate_size, h)?,
                    out_ln: w.layer_norm(&format!("{p}.output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>, LlmError>>()?;
        Ok(PackedBert {
            hidden: h,
            heads,
            eps: config.layer_norm_eps as f32,
            act: config.hidden_act,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            type_vocab: config.type_vocab_size,
            word: w.get("embeddings.word_embeddings.weight", config.vocab_size * h)?,
            position: w.get("embeddings.position_embeddings.weight", config.max_position_embeddings * h)?,
            token_type: w.get("embeddings.token_type_embeddings.weight", config.type_vocab_size * h)?,
            emb_ln: w.layer_norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }

    /// Mean-pooled (over each sentence's tokens) final hidden states, `[sentences][hidden]` flat.
    pub(crate) fn mean_pooled(&self, batch: &Packed) -> Result<Vec<f32>, LlmError> {
        let h = self.hidden;
        let tokens = batch.ids.len();
        let sentences = batch.offsets.len().saturating_sub(1);
        if batch.types.len() != tokens || batch.offsets.last().copied().unwrap_or(0) != tokens {
            return Err(LlmError::Input("packed batch: ids, types and offsets disagree".into()));
        }
        let mut x = vec![0f32; tokens * h];
        self.embed(batch, &mut x)?;
        let inter = self.layers.first().map_or(0, |l| l.up.out);
        let (mut qkv, mut ctx, mut tmp, mut up) = (vec![0f32; tokens * 3 * h], vec![0f32; tokens * h], vec![0f32; tokens * h], vec![0f32; tokens * inter]);
        for layer in &self.layers {
            dense(&x, tokens, &layer.qkv, &mut qkv);
            self.attention(&qkv, batch.offsets, &mut ctx);
            dense(&ctx, tokens, &layer.attn_out, &mut tmp);
            add_layer_norm(&mut x, &tmp, &layer.attn_ln, h, self.eps);
            dense(&x, tokens, &layer.up, &mut up);
            activate(&mut up, self.act);
            dense(&up, tokens, &layer.down, &mut tmp);
            add_layer_norm(&mut x, &tmp, &layer.out_ln, h, self.eps);
        }
        let mut pooled = vec![0f32; sentences * h];
        pooled.par_chunks_mut(h).enumerate().for_each(|(s, out)| {
            let (a, b) = (batch.offsets[s], batch.offsets[s + 1]);
            for row in x[a * h..b * h].chunks_exact(h) {
                out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
            }
            let n = (b - a).max(1) as f32;
            out.iter_mut().for_each(|o| *o /= n);
        });
        Ok(pooled)
    }

    /// Word + position + token-type embeddings, then LayerNorm, into `x [tokens][hidden]`.
    fn embed(&self, batch: &Packed, x: &mut [f32]) -> Result<(), LlmError> {
        let h = self.hidden;
        for s in 0..batch.offsets.len().saturating_sub(1) {
            let (a, b) = (batch.offsets[s], batch.offsets[s + 1]);
            if b - a > self.max_positions {
                return Err(LlmError::Input(format!("sentence of {} tokens exceeds the model's {} positions", b - a, self.max_positions)));
            }
            for (p, t) in (a..b).enumerate() {
                let (id, ty) = (batch.ids[t] as usize, batch.types[t] as usize);
                if id >= self.vocab || ty >= self.type_vocab {
                    return Err(LlmError::Input(format!("token id {id} / type {ty} outside the model's vocabulary")));
                }
                let row = &mut x[t * h..(t + 1) * h];
                let (wr, pr, tr) = (&self.word[id * h..(id + 1) * h], &self.position[p * h..(p + 1) * h], &self.token_type[ty * h..(ty + 1) * h]);
                for i in 0..h {
                    row[i] = wr[i] + tr[i] + pr[i];
                }
            }
        }
        x.par_chunks_mut(h * ROWS_PER_TASK).for_each(|rows| rows.chunks_exact_mut(h).for_each(|r| layer_norm_row(r, &self.emb_ln, self.eps)));
        Ok(())
    }

    /// Multi-head self-attention of each sentence over its own tokens: `qkv [tokens][3·hidden]`
    /// → `ctx [tokens][hidden]`; per (sentence, head) two small GEMMs (Q Kᵀ, then P V) on the
    /// strided views of `qkv`, sentences in parallel.
    fn attention(&self, qkv: &[f32], offsets: &[usize], ctx: &mut [f32]) {
        let (h, heads) = (self.hidden, self.heads);
        let dh = h / heads;
        let scale = 1.0 / (dh as f32).sqrt();
        let mut parts: Vec<(usize, &mut [f32])> = Vec::with_capacity(offsets.len());
        let mut rest = ctx;
        for w in offsets.windows(2) {
            let (this, tail) = rest.split_at_mut((w[1] - w[0]) * h);
            parts.push((w[0], this));
            rest = tail;
        }
        let stride = 3 * h;
        parts.into_par_iter().for_each_init(Vec::new, |scores: &mut Vec<f32>, (start, out)| {
            let len = out.len() / h;
            scores.resize(len * len, 0.0);
            let base = &qkv[start * stride..(start + len) * stride];
            for head in 0..heads {
                let (qo, ko, vo) = (head * dh, h + head * dh, 2 * h + head * dh);
                // SAFETY (both GEMMs): `base` holds `len` rows of `stride` floats, and the column
                // offsets + dh stay within a row; scores is [len][len]; the output block is `len`
                // rows of `out` (stride h) from column head·dh, dh wide.
                // scores = scale · Q Kᵀ, with Kᵀ's element (d, j) at base[j·stride + ko + d].
                unsafe {
                    gemm::gemm(len, len, dh, scores.as_mut_ptr(), 1, len as isize, false,
                        base.as_ptr().add(qo), 1, stride as isize,
                        base.as_ptr().add(ko), stride as isize, 1,
                        0.0, scale, false, false, false, Parallelism::None);
                }
                for row in scores.chunks_exact_mut(len) {
                    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    row.iter_mut().for_each(|v| *v = exp(*v - max));
                    let inv = 1.0 / lanes_sum(row, |v| v);
                    row.iter_mut().for_each(|v| *v *= inv);
                }
                // out[:, head] = P V, with V's element (j, d) at base[j·stride + vo + d].
                unsafe {
                    gemm::gemm(len, dh, len, out.as_mut_ptr().add(head * dh), 1, h as isize, false,
                        scores.as_ptr(), 1, len as isize,
                        base.as_ptr().add(vo), 1, stride as isize,
                        0.0, 1.0, false, false, false, Parallelism::None);
                }
            }
        });
    }
}

/// `y [rows][out] = x [rows][in] · Wᵀ + b` with one multithreaded GEMM.
fn dense(x: &[f32], rows: usize, d: &Dense, y: &mut [f32]) {
    debug_assert_eq!(x.len(), rows * d.inp);
    let y = &mut y[..rows * d.out];
    y.par_chunks_mut(d.out * ROWS_PER_TASK).for_each(|c| c.chunks_exact_mut(d.out).for_each(|r| r.copy_from_slice(&d.bias)));
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: dst y [rows][out] row-major; lhs x [rows][in] row-major; rhs Wᵀ, whose element
    // (i, o) is weight[o·in + i]. All three buffers hold exactly these extents.
    unsafe {
        gemm::gemm(
            rows,
            d.out,
            d.inp,
            y.as_mut_ptr(),
            1,
            d.out as isize,
            true,
            x.as_ptr(),
            1,
            d.inp as isize,
            d.weight.as_ptr(),
            d.inp as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Lanes of the reductions below: independent partial sums the compiler keeps in one SIMD
/// register (a plain `.sum()` must add in order, which forbids vectorising it).
const LANES: usize = 8;

/// Σ f(v) over `values`, in [`LANES`] partial sums.
#[inline(always)]
fn lanes_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `x ← LayerNorm(x + residual)`, row by row.
fn add_layer_norm(x: &mut [f32], residual: &[f32], ln: &LayerNorm, h: usize, eps: f32) {
    let residual = &residual[..x.len()];
    x.par_chunks_mut(h * ROWS_PER_TASK).zip(residual.par_chunks(h * ROWS_PER_TASK)).for_each(|(xs, rs)| {
        for (row, res) in xs.chunks_exact_mut(h).zip(rs.chunks_exact(h)) {
            row.iter_mut().zip(res).for_each(|(a, b)| *a += b);
            layer_norm_row(row, ln, eps);
        }
    });
}

fn layer_norm_row(row: &mut [f32], ln: &LayerNorm, eps: f32) {
    let n = row.len() as f32;
    let mean = lanes_sum(row, |v| v) / n;
    let var = lanes_sum(row, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(&ln.gamma).zip(&ln.beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

fn activate(x: &mut [f32], act: HiddenAct) {
    x.par_chunks_mut(4096).for_each(|c| match act {
        HiddenAct::Gelu => c.iter_mut().for_each(|v| *v = gelu_erf(*v)),
        HiddenAct::GeluApproximate => c.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
        HiddenAct::Relu => c.iter_mut().for_each(|v| *v = v.max(0.0)),
    });
}

/// e^x for f32, branch-free so loops over it vectorise: 2^(x·log₂e) split into an integer
/// power (exponent bits) and 2^f, |f| ≤ ½, by a degree-7 Taylor polynomial of e^(f·ln 2)
/// (< 1e-8); the rounding of x·log₂e dominates, relative error < 1e-6 for |x| ≤ 20. Inputs are
/// clamped to [−87, 88].
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    /// 1.5·2²³: adding and subtracting it rounds an f32 of magnitude < 2²² to an integer.
    const ROUND: f32 = 12_582_912.0;
    let y = x.max(-87.0).min(88.0) * std::f32::consts::LOG2_E;
    let n = (y + ROUND) - ROUND;
    let g = (y - n) * std::f32::consts::LN_2;
    let p = 1.0 + g * (1.0 + g * (0.5 + g * (1.0 / 6.0 + g * (1.0 / 24.0 + g * (1.0 / 120.0 + g * (1.0 / 720.0 + g * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// erf(x), Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), branch-free.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_8, -1.453_152, 1.061_405_4];
    let ax = x.abs();
    let t = 1.0 / (1.0 + P * ax);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * exp(-ax * ax)).copysign(x)
}

/// GELU with the exact (erf) form, BERT's `gelu`.
#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU's tanh approximation (`gelu_new`).
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    let u = C * (x + 0.044_715 * x * x * x);
    // tanh(u) = 1 − 2/(e^{2u} + 1)
    0.5 * x * (2.0 - 2.0 / (exp(2.0 * u) + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_std() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            let (e, want) = (exp(x), x.exp());
            assert!((e - want).abs() <= 1e-6 * want, "exp({x}) = {e}, want {want}");
        }
        // erf(x) reference values (Abramowitz & Stegun table 7.1).
        for (x, want) in [(0.0f32, 0.0f32), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (2.0, 0.995_322_3), (-1.0, -0.842_700_8), (4.0, 1.0)] {
            assert!((erf(x) - want).abs() < 3e-7, "erf({x}) = {}, want {want}", erf(x));
        }
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn lane_reductions_match_plain_sums() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.25).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let ab: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
        assert!((lanes_sum(&ab, |v| v) - plain).abs() < 1e-4);
        assert!((lanes_sum(&a, |v| v) - a.iter().sum::<f32>()).abs() < 1e-4);
        assert_eq!(lanes_sum(&[2.0, 3.0], |v| v * v), 13.0);
    }

    #[test]
    fn gelu_forms() {
        assert_eq!(gelu_erf(0.0), 0.0);
        assert!((gelu_erf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu_erf(-1.0) + 0.158_655_3).abs() < 1e-6);
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
    }
}
