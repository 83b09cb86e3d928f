//! Compiled training for Hiformer (Gui et al., arXiv 2311.05884): task tokens and feature
//! tokens through composite-Q/K/V attention layers (each token's query, key and value read
//! every token), feature-specific output projections and FFNs, two residual + LayerNorm steps,
//! then an MLP over the task tokens — forward and backward written out by hand. The composite
//! projections, most of the FLOPs, are one GEMM each way; attention runs per example and head
//! over transposed keys and values so every inner loop walks the tokens (compiled for AVX-512
//! or AVX2 when the CPU has them); per-token maps are strided GEMMs. The training form only:
//! full-rank projections, every layer computing every token, no dropout.

use burn::module::Param;
use burn::nn::LayerNorm;
use burn::prelude::*;

use crate::layers::NumericTokens;
use crate::layers::composite_projection::CompositeProjection;
use crate::layers::hetero_attention::QkvProjection;
use crate::layers::projection::{TokenLinear, TokenProjection};
use crate::ranking::Hiformer;
use crate::ranking::compiled::{Strided, matmul, values};
use crate::ranking::compiled_hiformer::{LANES, LAYER_NORM_EPSILON, exp_in_place, lane_max, lane_sum};
use crate::ranking::compiled_train::{Flattener, Linear, Tower, loss_gradient};
use crate::retrieval::search::exact::dot;

/// One `d_in → d_out` map per token: weights `[L, d_in, d_out]` at `w`, biases `[L, d_out]` at `b`.
#[derive(Debug, Clone, Copy)]
struct TokenMap {
    w: usize,
    b: usize,
    tokens: usize,
    d_in: usize,
    d_out: usize,
}

impl TokenMap {
    fn of(flat: &mut Flattener, linear: &TokenLinear) -> TokenMap {
        let [tokens, d_in, d_out] = linear.weight.val().dims();
        TokenMap { w: push_param(flat, &linear.weight), b: push_param(flat, &linear.bias), tokens, d_in, d_out }
    }

    fn weight<'p>(&self, p: &'p [f32], t: usize) -> &'p [f32] {
        let size = self.d_in * self.d_out;
        &p[self.w + t * size..self.w + (t + 1) * size]
    }

    /// `y_t = x_t W_t + b_t` for every token of the `m` examples (`x [m, L·d_in]`, `y [m, L·d_out]`).
    fn forward(&self, p: &[f32], x: &[f32], m: usize, y: &mut Vec<f32>) {
        let (l, d_out) = (self.tokens, self.d_out);
        y.resize(m * l * d_out, 0.0);
        let bias = &p[self.b..self.b + l * d_out];
        y.chunks_exact_mut(l * d_out).for_each(|row| row.copy_from_slice(bias));
        for t in 0..l {
            let x_t = Strided::rows(&x[t * self.d_in..], l * self.d_in);
            matmul(m, d_out, self.d_in, &mut y[t * d_out..], l * d_out, 1, x_t, Strided::rows(self.weight(p, t), d_out), true);
        }
    }

    /// Adds `x_tᵀ dy_t` and the column sums of `dy_t` to every token's gradient.
    fn accumulate(&self, grad: &mut [f32], x: &[f32], dy: &[f32], m: usize) {
        let (l, size) = (self.tokens, self.d_in * self.d_out);
        for t in 0..l {
            let dw = &mut grad[self.w + t * size..self.w + (t + 1) * size];
            let x_t = Strided::transposed(&x[t * self.d_in..], l * self.d_in);
            matmul(self.d_in, self.d_out, m, dw, self.d_out, 1, x_t, Strided::rows(&dy[t * self.d_out..], l * self.d_out), true);
        }
        let db = &mut grad[self.b..self.b + l * self.d_out];
        for row in dy.chunks_exact(l * self.d_out) {
            db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
        }
    }

    /// `dx_t = dy_t W_tᵀ` (`accumulate`: `+=`) for every token.
    fn input_gradient(&self, p: &[f32], dy: &[f32], m: usize, dx: &mut [f32], accumulate: bool) {
        let l = self.tokens;
        for t in 0..l {
            let dy_t = Strided::rows(&dy[t * self.d_out..], l * self.d_out);
            let wt = Strided::transposed(self.weight(p, t), self.d_out);
            matmul(m, self.d_in, self.d_out, &mut dx[t * self.d_in..], l * self.d_in, 1, dy_t, wt, accumulate);
        }
    }
}

/// A LayerNorm over `d`-wide rows: scale at `gamma`, shift at `beta` (absent: none).
#[derive(Debug, Clone, Copy)]
struct Norm {
    gamma: usize,
    beta: Option<usize>,
    d: usize,
}

impl Norm {
    fn of(flat: &mut Flattener, norm: &LayerNorm) -> Norm {
        Norm { gamma: push_param(flat, &norm.gamma), beta: norm.beta.as_ref().map(|b| push_param(flat, b)), d: norm.gamma.val().dims()[0] }
    }

    /// `y = x̂ γ + β` per row, keeping `x̂` and `1/σ` for the backward pass.
    fn forward(&self, p: &[f32], x: &[f32], y: &mut Vec<f32>, xhat: &mut Vec<f32>, rstd: &mut Vec<f32>) {
        let d = self.d;
        let (gamma, beta) = (&p[self.gamma..self.gamma + d], self.beta.map(|b| &p[b..b + d]));
        y.resize(x.len(), 0.0);
        xhat.resize(x.len(), 0.0);
        rstd.clear();
        for ((row, out), hat) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(xhat.chunks_exact_mut(d)) {
            let mean = row.iter().sum::<f32>() / d as f32;
            let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
            let inverse = 1.0 / (variance + LAYER_NORM_EPSILON).sqrt();
            rstd.push(inverse);
            for (c, (v, h)) in row.iter().zip(hat.iter_mut()).enumerate() {
                *h = (v - mean) * inverse;
                out[c] = *h * gamma[c] + beta.map_or(0.0, |b| b[c]);
            }
        }
    }

    /// From `dy` to `dx` (overwritten), adding the scale's and shift's gradients to `grad`.
    fn backward(&self, p: &[f32], dy: &[f32], xhat: &[f32], rstd: &[f32], grad: &mut [f32], dx: &mut [f32]) {
        let d = self.d;
        let gamma = &p[self.gamma..self.gamma + d];
        for (((g, hat), out), &inverse) in dy.chunks_exact(d).zip(xhat.chunks_exact(d)).zip(dx.chunks_exact_mut(d)).zip(rstd) {
            let (mut mean_dhat, mut mean_dhat_hat) = (0.0, 0.0);
            for c in 0..d {
                grad[self.gamma + c] += g[c] * hat[c];
                if let Some(b) = self.beta {
                    grad[b + c] += g[c];
                }
                let dhat = g[c] * gamma[c];
                mean_dhat += dhat;
                mean_dhat_hat += dhat * hat[c];
            }
            (mean_dhat, mean_dhat_hat) = (mean_dhat / d as f32, mean_dhat_hat / d as f32);
            for c in 0..d {
                out[c] = inverse * (g[c] * gamma[c] - mean_dhat - hat[c] * mean_dhat_hat);
            }
        }
    }
}

/// One Hiformer layer's parameters.
#[derive(Debug, Clone)]
struct Layer {
    /// Composite projections `[L·d, L·inner]`.
    query: Linear,
    key: Linear,
    value: Linear,
    output: TokenMap,
    ffn_in: TokenMap,
    ffn_out: TokenMap,
    norm_attention: Norm,
    norm_ffn: Norm,
}

/// Hiformer in training (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct HiformerArch {
    /// `[T, d]` task tokens.
    task: usize,
    task_tokens: usize,
    numeric: Option<NumericMaps>,
    layers: Vec<Layer>,
    head_hidden: Vec<Linear>,
    head_output: Linear,
    tokens: usize,
    d: usize,
    heads: usize,
    d_head: usize,
}

/// A block's examples for Hiformer and AutoInt: input rows as `FlatInput` writes them (`width`
/// floats each: `field_width` floats of field vectors, then the raw numeric values), their
/// labels and the loss scale.
pub(crate) struct ExampleRows<'a> {
    pub(crate) rows: &'a [f32],
    pub(crate) width: usize,
    pub(crate) field_width: usize,
    pub(crate) labels: &'a [f32],
    pub(crate) scale: f32,
}

impl ExampleRows<'_> {
    pub(crate) fn examples(&self) -> usize {
        self.labels.len()
    }

    fn row(&self, e: usize) -> &[f32] {
        &self.rows[e * self.width..(e + 1) * self.width]
    }

    /// Example `e`'s feature tokens into `out`: its field vectors, then one `d`-wide token per
    /// numeric feature.
    pub(crate) fn feature_tokens(&self, e: usize, p: &[f32], numeric: Option<&NumericMaps>, d: usize, out: &mut [f32]) {
        let (row, fields) = (self.row(e), self.field_width);
        out[..fields].copy_from_slice(&row[..fields]);
        if let Some(numeric) = numeric {
            numeric.forward(p, &row[fields..], d, &mut out[fields..]);
        }
    }

    /// From example `e`'s feature-token gradient `dtokens`: its input gradient `input` (fields;
    /// numeric columns 0), and the numeric token maps' gradients added to `grad`.
    pub(crate) fn feature_gradient(&self, e: usize, numeric: Option<&NumericMaps>, d: usize, dtokens: &[f32], grad: &mut [f32], input: &mut [f32]) {
        let fields = self.field_width;
        input[..fields].copy_from_slice(&dtokens[..fields]);
        input[fields..].fill(0.0);
        if let Some(numeric) = numeric {
            numeric.backward(grad, &self.row(e)[fields..], d, &dtokens[fields..]);
        }
    }
}

/// Per-feature numeric token maps `x_n w_n + b_n` in the flat buffer: weights at `w`, biases at
/// `b`, `[N, d]` each (Hiformer's and AutoInt's numeric tokens).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumericMaps {
    w: usize,
    b: usize,
}

impl NumericMaps {
    pub(crate) fn of(flat: &mut Flattener, tokens: &NumericTokens) -> NumericMaps {
        NumericMaps { w: push_param(flat, &tokens.weight), b: push_param(flat, &tokens.bias) }
    }

    /// One example's tokens from its raw numeric `values` into `out` (`N · d` floats).
    fn forward(&self, p: &[f32], values: &[f32], d: usize, out: &mut [f32]) {
        for (n, &value) in values.iter().enumerate() {
            for c in 0..d {
                out[n * d + c] = value * p[self.w + n * d + c] + p[self.b + n * d + c];
            }
        }
    }

    /// Adds the maps' gradients to `grad`, given one example's raw `values` and its tokens'
    /// gradient `dtokens` (`N · d` floats).
    fn backward(&self, grad: &mut [f32], values: &[f32], d: usize, dtokens: &[f32]) {
        for (n, &value) in values.iter().enumerate() {
            for c in 0..d {
                grad[self.w + n * d + c] += dtokens[n * d + c] * value;
                grad[self.b + n * d + c] += dtokens[n * d + c];
            }
        }
    }
}

fn push_param<const D: usize>(flat: &mut Flattener, param: &Param<Tensor<D>>) -> usize {
    flat.push(param.id, &values(param.val()))
}

fn composite(flat: &mut Flattener, projection: &QkvProjection) -> Option<Linear> {
    let QkvProjection::Composite(CompositeProjection { down: None, weight, bias, .. }) = projection else { return None };
    let [inputs, outputs] = weight.val().dims();
    Some(Linear { w: push_param(flat, weight), b: Some(push_param(flat, bias)), inputs, outputs })
}

fn per_token(flat: &mut Flattener, projection: &TokenProjection) -> Option<TokenMap> {
    match projection {
        TokenProjection::PerToken(linear) => Some(TokenMap::of(flat, linear)),
        TokenProjection::Shared(_) => None,
    }
}

impl HiformerArch {
    /// The training form of `model` with its weights in `flat`, or `None` for a serving form
    /// (factorised or pruned) or a model with dropout.
    pub(crate) fn new(model: &Hiformer, flat: &mut Flattener) -> Option<HiformerArch> {
        if model.prune_last_layer || !model.head.without_dropout() || model.layers.iter().any(|l| !l.without_dropout()) {
            return None;
        }
        let [task_tokens, d] = model.task.val().dims();
        let task = push_param(flat, &model.task);
        let numeric = model.numeric.as_ref().map(|n| NumericMaps::of(flat, n));
        let first = model.layers.first()?;
        let (tokens, heads) = (first.token_count(), first.heads());
        let mut layers = Vec::with_capacity(model.layers.len());
        for layer in &model.layers {
            let (norm_attention, norm_ffn) = layer.norms();
            layers.push(Layer {
                query: composite(flat, &layer.query)?,
                key: composite(flat, &layer.key)?,
                value: composite(flat, &layer.value)?,
                output: per_token(flat, &layer.output)?,
                ffn_in: per_token(flat, &layer.ffn_in)?,
                ffn_out: per_token(flat, &layer.ffn_out)?,
                norm_attention: Norm::of(flat, norm_attention),
                norm_ffn: Norm::of(flat, norm_ffn),
            });
        }
        let inner = layers[0].query.outputs / tokens;
        let (head_hidden, head_output) = flat.tower(&model.head.compiled())?;
        Some(HiformerArch { task, task_tokens, numeric, layers, head_hidden, head_output, tokens, d, heads, d_head: inner / heads })
    }

    fn attention(&self) -> TrainAttention {
        TrainAttention { tokens: self.tokens, heads: self.heads, d_head: self.d_head }
    }

    /// Loss sum of the block's examples `x`; adds their weight gradients to `grad` and writes
    /// their input gradients (fields; numeric columns 0) to `inputs`.
    pub(crate) fn block(&self, p: &[f32], x: &ExampleRows, s: &mut HiformerScratch, grad: &mut [f32], inputs: &mut [f32]) -> f64 {
        let m = x.examples();
        let (l, d, t) = (self.tokens, self.d, self.task_tokens);
        let row = l * d;
        let layers = self.layers.len();
        s.levels(layers);
        // Tokens: task tokens, embedded fields, numeric tokens.
        let x0 = &mut s.x[0];
        x0.resize(m * row, 0.0);
        for (e, tokens) in x0.chunks_exact_mut(row).enumerate() {
            tokens[..t * d].copy_from_slice(&p[self.task..self.task + t * d]);
            x.feature_tokens(e, p, self.numeric.as_ref(), d, &mut tokens[t * d..]);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            self.layer_forward(p, layer, i, m, s);
        }
        // The task tokens' outputs, side by side, feed the head.
        s.head_in.clear();
        for tokens in s.x[layers].chunks_exact(row) {
            s.head_in.extend_from_slice(&tokens[..t * d]);
        }
        s.logits.clear();
        s.logits.resize(m, 0.0);
        let head = Tower { hidden: &self.head_hidden, output: &self.head_output };
        head.forward(p, &s.head_in, t * d, m, &mut s.acts, &mut s.logits);
        let loss = loss_gradient(&s.logits, x.labels, x.scale, &mut s.dlogits);

        head.backward(p, &s.head_in, t * d, m, &s.acts, &s.dlogits, grad, &mut s.dhead, &mut s.db);
        s.dx.clear();
        s.dx.resize(m * row, 0.0);
        for (tokens, dhead) in s.dx.chunks_exact_mut(row).zip(s.dhead.chunks_exact(t * d)) {
            tokens[..t * d].copy_from_slice(dhead);
        }
        for (i, layer) in self.layers.iter().enumerate().rev() {
            self.layer_backward(p, layer, i, m, s, grad);
        }
        // ∂L/∂x₀ to the task tokens, the fields and the numeric token maps.
        for (e, tokens) in s.dx.chunks_exact(row).enumerate() {
            grad[self.task..self.task + t * d].iter_mut().zip(&tokens[..t * d]).for_each(|(g, v)| *g += v);
            x.feature_gradient(e, self.numeric.as_ref(), d, &tokens[t * d..], grad, &mut inputs[e * x.width..(e + 1) * x.width]);
        }
        loss
    }

    /// Layer `i`: `s.x[i]` → `s.x[i + 1]`, keeping what the backward pass reads.
    fn layer_forward(&self, p: &[f32], layer: &Layer, i: usize, m: usize, s: &mut HiformerScratch) {
        let row = self.tokens * self.d;
        let (before, after) = s.x.split_at_mut(i + 1);
        let (x, next) = (&before[i], &mut after[0]);
        let saved = &mut s.saved[i];
        layer.query.forward(p, x, row, m, &mut saved.q);
        layer.key.forward(p, x, row, m, &mut saved.k);
        layer.value.forward(p, x, row, m, &mut saved.v);
        self.attention().forward(m, saved, &mut s.attention.kt, &mut s.attention.vt);
        layer.output.forward(p, &saved.attended, m, &mut s.tmp);
        s.tmp.iter_mut().zip(x).for_each(|(o, x)| *o += x);
        layer.norm_attention.forward(p, &s.tmp, &mut saved.h, &mut saved.hat_attention, &mut saved.rstd_attention);
        layer.ffn_in.forward(p, &saved.h, m, &mut saved.f);
        saved.f.iter_mut().for_each(|v| *v = v.max(0.0));
        layer.ffn_out.forward(p, &saved.f, m, &mut s.tmp);
        s.tmp.iter_mut().zip(&saved.h).for_each(|(o, h)| *o += h);
        layer.norm_ffn.forward(p, &s.tmp, next, &mut saved.hat_ffn, &mut saved.rstd_ffn);
    }

    /// Layer `i` backward: `s.dx` from ∂L/∂x[i + 1] to ∂L/∂x[i].
    fn layer_backward(&self, p: &[f32], layer: &Layer, i: usize, m: usize, s: &mut HiformerScratch, grad: &mut [f32]) {
        let row = self.tokens * self.d;
        let saved = &s.saved[i];
        // Second residual + LayerNorm: ∂L/∂(h + ffn) in dr; h gets it twice (residual and FFN).
        s.dr.resize(m * row, 0.0);
        layer.norm_ffn.backward(p, &s.dx, &saved.hat_ffn, &saved.rstd_ffn, grad, &mut s.dr);
        layer.ffn_out.accumulate(grad, &saved.f, &s.dr, m);
        s.df.resize(saved.f.len(), 0.0);
        layer.ffn_out.input_gradient(p, &s.dr, m, &mut s.df, false);
        s.df.iter_mut().zip(&saved.f).for_each(|(d, f)| {
            if *f <= 0.0 {
                *d = 0.0
            }
        });
        layer.ffn_in.accumulate(grad, &saved.h, &s.df, m);
        layer.ffn_in.input_gradient(p, &s.df, m, &mut s.dr, true);
        // First residual + LayerNorm: ∂L/∂(x + attention output) in dx (x's own share).
        layer.norm_attention.backward(p, &s.dr, &saved.hat_attention, &saved.rstd_attention, grad, &mut s.dx);
        layer.output.accumulate(grad, &saved.attended, &s.dx, m);
        s.dattended.resize(saved.attended.len(), 0.0);
        layer.output.input_gradient(p, &s.dx, m, &mut s.dattended, false);
        self.attention().backward(m, saved, &s.dattended, &mut s.attention);
        let x = &s.x[i];
        let a = &s.attention;
        for (projection, dy) in [(&layer.query, &a.dq), (&layer.key, &a.dk), (&layer.value, &a.dv)] {
            projection.accumulate(grad, x, row, dy, m);
            projection.input_gradient(p, dy, m, &mut s.dx, row, true);
        }
    }
}

/// The shape of a multi-head softmax attention in training, every token attending to every
/// token: `heads` heads of `d_head` columns side by side (Hiformer's and AutoInt's layers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrainAttention {
    pub(crate) tokens: usize,
    pub(crate) heads: usize,
    pub(crate) d_head: usize,
}

impl TrainAttention {
    fn inner(&self) -> usize {
        self.heads * self.d_head
    }

    /// Softmax attention of every example and head: `saved.attended` and `saved.probs`.
    pub(crate) fn forward(&self, m: usize, saved: &mut Saved, kt: &mut Vec<f32>, vt: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { self.forward_avx512(m, saved, kt, vt) };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                return unsafe { self.forward_avx2(m, saved, kt, vt) };
            }
        }
        self.forward_portable(m, saved, kt, vt);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn forward_avx512(&self, m: usize, saved: &mut Saved, kt: &mut Vec<f32>, vt: &mut Vec<f32>) {
        self.forward_portable(m, saved, kt, vt);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(&self, m: usize, saved: &mut Saved, kt: &mut Vec<f32>, vt: &mut Vec<f32>) {
        self.forward_portable(m, saved, kt, vt);
    }

    /// Per example and head: keys and values transposed to `[d_head][L']` (L' = L padded to a
    /// multiple of [`LANES`] with zeros), so the scores of a query, its softmax and each output
    /// component are whole-vector loops over the tokens, sums and maxima over independent
    /// lanes (a plain float sum would stay scalar: the compiler keeps its order).
    #[inline(always)]
    fn forward_portable(&self, m: usize, saved: &mut Saved, kt: &mut Vec<f32>, vt: &mut Vec<f32>) {
        let (l, dk, inner) = (self.tokens, self.d_head, self.inner());
        let lp = padded(l);
        let scale = 1.0 / (dk as f32).sqrt();
        saved.attended.resize(m * l * inner, 0.0);
        saved.probs.resize(m * self.heads * l * lp, 0.0);
        zeroed(kt, dk * lp);
        zeroed(vt, dk * lp);
        for e in 0..m {
            let (q, k, v) = (&saved.q[e * l * inner..], &saved.k[e * l * inner..], &saved.v[e * l * inner..]);
            for h in 0..self.heads {
                transpose_head(k, l, inner, h * dk, dk, lp, kt);
                transpose_head(v, l, inner, h * dk, dk, lp, vt);
                let probs = &mut saved.probs[(e * self.heads + h) * l * lp..(e * self.heads + h + 1) * l * lp];
                for (i, p) in probs.chunks_exact_mut(lp).enumerate() {
                    let query = &q[i * inner + h * dk..i * inner + (h + 1) * dk];
                    p.fill(0.0);
                    for (c, &qc) in query.iter().enumerate() {
                        axpy(p, qc, &kt[c * lp..(c + 1) * lp]);
                    }
                    p[l..].fill(f32::NEG_INFINITY);
                    let max = lane_max(p);
                    p.iter_mut().for_each(|s| *s = (*s - max) * scale);
                    exp_in_place(p);
                    let inverse = 1.0 / lane_sum(p);
                    p.iter_mut().for_each(|s| *s *= inverse);
                    let out = &mut saved.attended[(e * l + i) * inner + h * dk..(e * l + i) * inner + (h + 1) * dk];
                    for (c, o) in out.iter_mut().enumerate() {
                        *o = dot(p, &vt[c * lp..(c + 1) * lp]);
                    }
                }
            }
        }
    }

    /// From ∂L/∂attended to ∂L/∂Q, ∂L/∂K, ∂L/∂V (`s.dq`, `s.dk`, `s.dv`).
    pub(crate) fn backward(&self, m: usize, saved: &Saved, dattended: &[f32], s: &mut AttentionGrads) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { self.backward_avx512(m, saved, dattended, s) };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                return unsafe { self.backward_avx2(m, saved, dattended, s) };
            }
        }
        self.backward_portable(m, saved, dattended, s);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn backward_avx512(&self, m: usize, saved: &Saved, dattended: &[f32], s: &mut AttentionGrads) {
        self.backward_portable(m, saved, dattended, s);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn backward_avx2(&self, m: usize, saved: &Saved, dattended: &[f32], s: &mut AttentionGrads) {
        self.backward_portable(m, saved, dattended, s);
    }

    /// With `P` the softmax of `S = Q Kᵀ / √d_head`: `dV = Pᵀ dA`, `dP = dA Vᵀ`,
    /// `dS = P ⊙ (dP − rowsum(P ⊙ dP))`, `dQ = dS K / √d_head`, `dK = dSᵀ Q / √d_head` — each
    /// row of `dS` a whole-vector loop over the padded tokens, keys and values (and their
    /// gradients) transposed as in the forward pass.
    #[inline(always)]
    fn backward_portable(&self, m: usize, saved: &Saved, dattended: &[f32], s: &mut AttentionGrads) {
        let (l, dk, inner) = (self.tokens, self.d_head, self.inner());
        let lp = padded(l);
        let scale = 1.0 / (dk as f32).sqrt();
        let AttentionGrads { kt, vt, dkt, dvt, dp, dq, dk: dkeys, dv } = s;
        for buffer in [&mut *dq, &mut *dkeys, &mut *dv] {
            zeroed(buffer, m * l * inner);
        }
        zeroed(kt, dk * lp);
        zeroed(vt, dk * lp);
        dp.resize(lp, 0.0);
        for e in 0..m {
            let base = e * l * inner;
            let (q, k, v) = (&saved.q[base..], &saved.k[base..], &saved.v[base..]);
            for h in 0..self.heads {
                transpose_head(k, l, inner, h * dk, dk, lp, kt);
                transpose_head(v, l, inner, h * dk, dk, lp, vt);
                zeroed(dkt, dk * lp);
                zeroed(dvt, dk * lp);
                let probs = &saved.probs[(e * self.heads + h) * l * lp..(e * self.heads + h + 1) * l * lp];
                for (i, p) in probs.chunks_exact(lp).enumerate() {
                    let da = &dattended[base + i * inner + h * dk..base + i * inner + (h + 1) * dk];
                    dp.fill(0.0);
                    for (c, &g) in da.iter().enumerate() {
                        axpy(dp, g, &vt[c * lp..(c + 1) * lp]);
                        axpy(&mut dvt[c * lp..(c + 1) * lp], g, p);
                    }
                    let weighted = dot(p, dp);
                    dp.iter_mut().zip(p).for_each(|(d, p)| *d = p * (*d - weighted) * scale);
                    let query = &q[i * inner + h * dk..i * inner + (h + 1) * dk];
                    let dquery = &mut dq[base + i * inner + h * dk..base + i * inner + (h + 1) * dk];
                    for c in 0..dk {
                        dquery[c] = dot(dp, &kt[c * lp..(c + 1) * lp]);
                        axpy(&mut dkt[c * lp..(c + 1) * lp], query[c], dp);
                    }
                }
                for j in 0..l {
                    for c in 0..dk {
                        dkeys[base + j * inner + h * dk + c] = dkt[c * lp + j];
                        dv[base + j * inner + h * dk + c] = dvt[c * lp + j];
                    }
                }
            }
        }
    }
}

/// `l` rounded up to a multiple of [`LANES`].
fn padded(l: usize) -> usize {
    l.div_ceil(LANES) * LANES
}

/// `buffer` as `len` zeros.
fn zeroed(buffer: &mut Vec<f32>, len: usize) {
    buffer.clear();
    buffer.resize(len, 0.0);
}

/// `y += alpha · x` (`x`, `y` of the same padded length).
#[inline(always)]
fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += alpha * x);
}

/// Head columns `column..column + dk` of the `l` token rows of `rows` (rows `inner` apart),
/// transposed into `out [dk][lp]` (the padding is left as it is: zeros).
#[inline(always)]
fn transpose_head(rows: &[f32], l: usize, inner: usize, column: usize, dk: usize, lp: usize, out: &mut [f32]) {
    for j in 0..l {
        for c in 0..dk {
            out[c * lp + j] = rows[j * inner + column + c];
        }
    }
}

/// What one layer's forward pass keeps for its backward pass.
#[derive(Default)]
pub(crate) struct Saved {
    pub(crate) q: Vec<f32>,
    pub(crate) k: Vec<f32>,
    pub(crate) v: Vec<f32>,
    /// `[m][H][L][L']` attention weights (keys padded to L', padding 0).
    probs: Vec<f32>,
    pub(crate) attended: Vec<f32>,
    /// After the first residual + LayerNorm.
    h: Vec<f32>,
    hat_attention: Vec<f32>,
    rstd_attention: Vec<f32>,
    /// FFN hidden activations (after ReLU).
    f: Vec<f32>,
    hat_ffn: Vec<f32>,
    rstd_ffn: Vec<f32>,
}

/// A thread's Hiformer buffers, reused across its blocks and steps.
#[derive(Default)]
pub(crate) struct HiformerScratch {
    /// Layer inputs x₀…x_n (`[m, L·d]` each).
    x: Vec<Vec<f32>>,
    saved: Vec<Saved>,
    tmp: Vec<f32>,
    head_in: Vec<f32>,
    acts: Vec<Vec<f32>>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
    dhead: Vec<f32>,
    db: Vec<f32>,
    dx: Vec<f32>,
    dr: Vec<f32>,
    df: Vec<f32>,
    dattended: Vec<f32>,
    attention: AttentionGrads,
}

/// Attention's per-head buffers and its gradients with respect to Q, K and V.
#[derive(Default)]
pub(crate) struct AttentionGrads {
    /// One head's keys and values, and their gradients, transposed to `[d_head][L']`.
    kt: Vec<f32>,
    vt: Vec<f32>,
    dkt: Vec<f32>,
    dvt: Vec<f32>,
    /// One query's score gradients `[L']`.
    dp: Vec<f32>,
    pub(crate) dq: Vec<f32>,
    pub(crate) dk: Vec<f32>,
    pub(crate) dv: Vec<f32>,
}

impl HiformerScratch {
    fn levels(&mut self, layers: usize) {
        self.x.resize_with(layers + 1, Vec::new);
        self.saved.resize_with(layers, Saved::default);
    }
}
