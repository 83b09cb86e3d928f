//! Compiled inference for Hiformer (Gui et al., arXiv 2311.05884): the trained weights copied
//! out of burn, and a block of examples taken through every layer at once. Per layer, the
//! composite Q, K and V are **one GEMM** over the flattened tokens (their weight columns side by
//! side; factorised exports: one down and one up GEMM each); attention runs per example and head
//! on transposed, padded keys and values, accumulating in registers, with a vectorised exp; the
//! feature-specific output and FFN projections are one strided GEMM per token. Same math as the
//! burn forward, serving forms included (low rank, last layer for the task tokens only);
//! `tests/compiled_inference.rs` checks the scores agree.

use std::ops::Range;

use crate::ranking::compiled::{Dense, Tower};

/// Scores are computed in whole vectors of this many tokens (one AVX-512 register).
pub(crate) const LANES: usize = 16;

/// LayerNorm's ε (burn's default, which every recforge block uses).
pub(crate) const LAYER_NORM_EPSILON: f32 = 1e-5;

/// One `d_in → d_out` affine map per token.
#[derive(Debug, Clone)]
pub(crate) struct TokenDense {
    tokens: Vec<Dense>,
}

impl TokenDense {
    /// From weight `[L][d_in][d_out]` and bias `[L][d_out]`, row-major.
    pub(crate) fn new(weight: &[f32], bias: &[f32], d_in: usize, d_out: usize) -> TokenDense {
        let tokens = weight
            .chunks_exact((d_in * d_out).max(1))
            .zip(bias.chunks_exact(d_out.max(1)))
            .map(|(w, b)| Dense::from_parts(w.to_vec(), b.to_vec(), d_in, d_out))
            .collect();
        TokenDense { tokens }
    }

    /// `x [m][n][d_in]` holding tokens `first..first + n` → `out [m][n][d_out]`.
    fn forward(&self, x: &[f32], m: usize, first: usize, n: usize, out: &mut Vec<f32>) {
        let Some(d_out) = self.tokens.first().map(Dense::outputs) else { return out.clear() };
        let d_in = self.tokens[0].inputs();
        out.resize(m * n * d_out, 0.0);
        for (j, token) in self.tokens[first..first + n].iter().enumerate() {
            token.forward_strided(&x[j * d_in..], n * d_in, m, &mut out[j * d_out..], n * d_out);
        }
    }
}

/// A LayerNorm's scale and shift.
#[derive(Debug, Clone)]
pub(crate) struct Norm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
}

impl Norm {
    /// Normalises every `d`-wide row of `values` in place.
    fn apply(&self, values: &mut [f32]) {
        let d = self.gamma.len();
        for row in values.chunks_exact_mut(d) {
            let mean = row.iter().sum::<f32>() / d as f32;
            let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
            let inverse = 1.0 / (variance + LAYER_NORM_EPSILON).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * inverse * g + b;
            }
        }
    }
}

/// Part of the Q‖K‖V row: `x · down · up + b` (or `x · up + b`) into columns `column..`.
#[derive(Debug, Clone)]
pub(crate) struct QkvPiece {
    pub(crate) down: Option<Dense>,
    pub(crate) up: Dense,
    pub(crate) column: usize,
}

/// One Hiformer layer (composite Q/K/V, feature-specific output projection and FFN, two
/// residual + LayerNorm steps), computing the outputs of the tokens in `queries`.
#[derive(Debug, Clone)]
pub(crate) struct AttentionBlock {
    /// Fill one row `[queries·inner ‖ L·inner ‖ L·inner]` of Q, K and V per example.
    pub(crate) qkv: Vec<QkvPiece>,
    pub(crate) tokens: usize,
    pub(crate) queries: Range<usize>,
    pub(crate) heads: usize,
    pub(crate) d_head: usize,
    pub(crate) d_model: usize,
    pub(crate) output: TokenDense,
    pub(crate) ffn_in: TokenDense,
    pub(crate) ffn_out: TokenDense,
    pub(crate) norm_attention: Norm,
    pub(crate) norm_ffn: Norm,
}

/// Per-block buffers of the attention layers.
#[derive(Default)]
pub(crate) struct AttentionScratch {
    x: Vec<f32>,
    y: Vec<f32>,
    qkv: Vec<f32>,
    low: Vec<f32>,
    attended: Vec<f32>,
    h: Vec<f32>,
    ffn: Vec<f32>,
    attend: AttendScratch,
    head_in: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl AttentionBlock {
    fn inner(&self) -> usize {
        self.heads * self.d_head
    }

    fn qkv_width(&self) -> usize {
        (self.queries.len() + 2 * self.tokens) * self.inner()
    }

    /// `x [m][L][d]` → `out [m][|queries|][d]`.
    fn forward(&self, x: &[f32], m: usize, s: &mut AttentionScratch, out: &mut Vec<f32>) {
        let (tokens, d, inner) = (self.tokens, self.d_model, self.inner());
        let (first, n) = (self.queries.start, self.queries.len());
        let width = self.qkv_width();
        s.qkv.resize(m * width, 0.0);
        for piece in &self.qkv {
            match &piece.down {
                Some(down) => {
                    down.forward(x, m, &mut s.low);
                    piece.up.forward_strided(&s.low, down.outputs(), m, &mut s.qkv[piece.column..], width);
                }
                None => piece.up.forward_strided(x, tokens * d, m, &mut s.qkv[piece.column..], width),
            }
        }
        s.attended.resize(m * n * inner, 0.0);
        self.heads_shape().attend_all(&s.qkv, width, &mut s.attended, &mut s.attend);
        self.output.forward(&s.attended, m, first, n, &mut s.h);
        for (example, h) in s.h.chunks_exact_mut(n * d).enumerate() {
            let residual = &x[(example * tokens + first) * d..(example * tokens + first + n) * d];
            h.iter_mut().zip(residual).for_each(|(v, r)| *v += r);
        }
        self.norm_attention.apply(&mut s.h);
        self.ffn_in.forward(&s.h, m, first, n, &mut s.ffn);
        s.ffn.iter_mut().for_each(|v| *v = v.max(0.0));
        self.ffn_out.forward(&s.ffn, m, first, n, out);
        out.iter_mut().zip(&s.h).for_each(|(v, h)| *v += h);
        self.norm_ffn.apply(out);
    }

    /// The shape of this layer's attention.
    fn heads_shape(&self) -> Heads {
        Heads { tokens: self.tokens, queries: self.queries.len(), heads: self.heads, d_head: self.d_head }
    }
}

/// The shape of one multi-head softmax attention: `queries` queries over `tokens` keys and
/// values, `heads` heads of `d_head` columns side by side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub(crate) tokens: usize,
    pub(crate) queries: usize,
    pub(crate) heads: usize,
    pub(crate) d_head: usize,
}

impl Heads {
    fn inner(&self) -> usize {
        self.heads * self.d_head
    }

    /// Attention of every example: `qkv` holds one row `[queries·inner ‖ L·inner ‖ L·inner]`
    /// of Q, K and V per example (`width` floats apart), `attended` one `[queries][inner]` row.
    /// Compiled for AVX-512 or AVX2 + FMA when the CPU has them (the workspace targets
    /// baseline x86-64; the loops below are written for the compiler to vectorise).
    pub(crate) fn attend_all(&self, qkv: &[f32], width: usize, attended: &mut [f32], scratch: &mut AttendScratch) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { self.attend_all_avx512(qkv, width, attended, scratch) };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                return unsafe { self.attend_all_avx2(qkv, width, attended, scratch) };
            }
        }
        self.attend_all_portable(qkv, width, attended, scratch);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn attend_all_avx512(&self, qkv: &[f32], width: usize, attended: &mut [f32], scratch: &mut AttendScratch) {
        self.attend_all_portable(qkv, width, attended, scratch);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn attend_all_avx2(&self, qkv: &[f32], width: usize, attended: &mut [f32], scratch: &mut AttendScratch) {
        self.attend_all_portable(qkv, width, attended, scratch);
    }

    #[inline(always)]
    fn attend_all_portable(&self, qkv: &[f32], width: usize, attended: &mut [f32], scratch: &mut AttendScratch) {
        let inner_rows = self.queries * self.inner();
        for (row, attended) in qkv.chunks_exact(width).zip(attended.chunks_exact_mut(inner_rows)) {
            self.attend(row, attended, scratch);
        }
    }

    /// Softmax attention of one example: `row` is its Q‖K‖V, `attended [|queries|][inner]`.
    /// Keys and values are transposed per head, each row padded to a multiple of [`LANES`]
    /// tokens, so every score and every output is accumulated in registers over whole SIMD
    /// vectors of tokens (padded keys and values are 0, padded scores −∞, so they weigh 0).
    #[inline(always)]
    fn attend(&self, row: &[f32], attended: &mut [f32], scratch: &mut AttendScratch) {
        let (tokens, dk, inner, n) = (self.tokens, self.d_head, self.inner(), self.queries);
        let padded = tokens.div_ceil(LANES) * LANES;
        let (q, kv) = row.split_at(n * inner);
        let (k, v) = kv.split_at(tokens * inner);
        let scale = 1.0 / (dk as f32).sqrt();
        let AttendScratch { keys, values, scores } = scratch;
        keys.resize(dk * padded, 0.0);
        values.resize(dk * padded, 0.0);
        scores.resize(padded, 0.0);
        for head in 0..self.heads {
            for j in 0..tokens {
                for a in 0..dk {
                    keys[a * padded + j] = k[j * inner + head * dk + a];
                    values[a * padded + j] = v[j * inner + head * dk + a];
                }
            }
            for i in 0..n {
                let query = &q[i * inner + head * dk..i * inner + (head + 1) * dk];
                for (c, chunk) in scores.chunks_exact_mut(LANES).enumerate() {
                    let mut acc = [0f32; LANES];
                    for (a, &qa) in query.iter().enumerate() {
                        let key = &keys[a * padded + c * LANES..a * padded + (c + 1) * LANES];
                        for l in 0..LANES {
                            acc[l] += qa * key[l];
                        }
                    }
                    for l in 0..LANES {
                        chunk[l] = acc[l] * scale;
                    }
                }
                scores[tokens..].fill(f32::NEG_INFINITY);
                let max = lane_max(scores);
                for chunk in scores.chunks_exact_mut(LANES) {
                    chunk.iter_mut().for_each(|s| *s -= max);
                    exp_in_place(chunk);
                }
                let inverse = 1.0 / lane_sum(scores);
                for c in 0..dk {
                    let mut acc = [0f32; LANES];
                    let column = &values[c * padded..(c + 1) * padded];
                    for (p, v) in scores.chunks_exact(LANES).zip(column.chunks_exact(LANES)) {
                        for l in 0..LANES {
                            acc[l] += p[l] * v[l];
                        }
                    }
                    attended[i * inner + head * dk + c] = tree_sum(&acc) * inverse;
                }
            }
        }
    }
}

/// The sum of the lanes as a tree (halves, then quarters, …): a few vector additions instead
/// of one serial chain of 15 (the compiler keeps a plain float sum's order).
#[inline(always)]
fn tree_sum(lanes: &[f32; LANES]) -> f32 {
    const { assert!(LANES == 16, "tree_sum folds 16 lanes") };
    let half: [f32; 8] = std::array::from_fn(|x| lanes[x] + lanes[x + 8]);
    let quarter: [f32; 4] = std::array::from_fn(|x| half[x] + half[x + 4]);
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

/// Transposed keys and values and one score row (see [`Heads::attend`]).
#[derive(Default)]
pub(crate) struct AttendScratch {
    keys: Vec<f32>,
    values: Vec<f32>,
    scores: Vec<f32>,
}

/// Sum over 8 independent lanes (a plain `.sum()` is one serial chain the compiler may not
/// reorder into SIMD).
#[inline(always)]
pub(crate) fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, v)| *l += v);
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Maximum over 8 independent lanes (`-∞` for an empty slice).
#[inline(always)]
pub(crate) fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, &v)| *l = if v > *l { v } else { *l });
    }
    let rest = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    lanes.iter().fold(rest, |m, &v| if v > m { v } else { m })
}

/// Hiformer compiled for inference.
#[derive(Debug, Clone)]
pub(crate) struct HiformerNet {
    /// `[task_tokens][d]`.
    pub(crate) task: Vec<f32>,
    /// Numeric-token weights and biases, `[N][d]` each (absent without numeric features).
    pub(crate) numeric: Option<(Vec<f32>, Vec<f32>)>,
    pub(crate) blocks: Vec<AttentionBlock>,
    pub(crate) head: Tower,
    pub(crate) dim: usize,
}

impl HiformerNet {
    fn task_tokens(&self) -> usize {
        self.task.len() / self.dim
    }

    /// Adds the logits of the `m` rows of `flat` (field vectors, then numeric features, as
    /// `FlatInput` writes them; `field_width` floats of fields) to `logits`.
    pub(crate) fn logits(&self, flat: &[f32], m: usize, field_width: usize, s: &mut AttentionScratch, logits: &mut [f32]) {
        let d = self.dim;
        let t = self.task_tokens();
        let width = flat.len() / m.max(1);
        let numeric = self.numeric.as_ref().map_or(0, |(w, _)| w.len() / d).min(width - field_width);
        let tokens = t + field_width / d + numeric;
        s.x.resize(m * tokens * d, 0.0);
        for (row, x) in flat.chunks_exact(width.max(1)).zip(s.x.chunks_exact_mut(tokens * d)) {
            let (task, rest) = x.split_at_mut(t * d);
            task.copy_from_slice(&self.task);
            feature_tokens(row, field_width, self.numeric.as_ref(), d, rest);
        }
        let mut x = std::mem::take(&mut s.x);
        let mut y = std::mem::take(&mut s.y);
        let mut rows = tokens;
        for block in &self.blocks {
            block.forward(&x, m, s, &mut y);
            std::mem::swap(&mut x, &mut y);
            rows = block.queries.len();
        }
        s.head_in.clear();
        for example in x.chunks_exact(rows * d) {
            s.head_in.extend_from_slice(&example[..t * d]);
        }
        (s.x, s.y) = (x, y);
        let hidden = self.head.hidden(&s.head_in, m, &mut s.a, &mut s.b);
        self.head.output.add_scalar(hidden, logits);
    }
}

/// One example's feature tokens into `out`: its field vectors as `FlatInput` wrote them
/// (`field_width` floats of `row`), then one `d`-wide token `value · w_n + b_n` per numeric
/// feature (`numeric`: the weights and biases, `[N][d]` each).
pub(crate) fn feature_tokens(row: &[f32], field_width: usize, numeric: Option<&(Vec<f32>, Vec<f32>)>, d: usize, out: &mut [f32]) {
    let (fields, numbers) = out.split_at_mut(field_width);
    fields.copy_from_slice(&row[..field_width]);
    if let Some((weight, bias)) = numeric {
        for (n, token) in numbers.chunks_exact_mut(d).enumerate() {
            let value = row[field_width + n];
            for ((out, w), b) in token.iter_mut().zip(&weight[n * d..(n + 1) * d]).zip(&bias[n * d..(n + 1) * d]) {
                *out = value * w + b;
            }
        }
    }
}

/// `eˣ` of every value, vectorisable (the compiler turns the loop into SIMD; libm's `expf` is
/// a call per value): `2ⁿ · p(r)` with `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`, and p the degree-6
/// Taylor polynomial (relative error below 2e-7). Arguments below −87 give 0 (as `expf`
/// underflows there); the softmax only passes values ≤ 0.
#[inline(always)]
pub(crate) fn exp_in_place(values: &mut [f32]) {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 · 2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    for v in values.iter_mut() {
        let x = v.clamp(-87.0, 88.0);
        let shifted = x * LOG2_E + ROUND;
        let n = shifted - ROUND;
        let r = x - n * LN2_HI - n * LN2_LO;
        let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
        // `shifted` is 1.5 · 2²³ + n exactly, so its low mantissa bits hold n (|n| ≤ 127): 2ⁿ's
        // exponent field is (n + 127) << 23, and the shift drops the rest. Integer ops on the
        // bits stay in SIMD registers; `n as i32` (a saturating conversion) went scalar.
        let scale = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
        *v = if *v < -87.0 { 0.0 } else { p * scale };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_standard_library() {
        let mut worst = 0f32;
        for i in -8700..=8800 {
            let x = i as f32 / 100.0;
            let mut v = [x];
            exp_in_place(&mut v);
            worst = worst.max(((v[0] - x.exp()) / x.exp()).abs());
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        let mut tiny = [-100.0, f32::NEG_INFINITY, 0.0];
        exp_in_place(&mut tiny);
        assert_eq!(tiny, [0.0, 0.0, 1.0]);
    }
}
