//! AutoInt (Song et al., arXiv 1810.11921) compiled for inference: the field embeddings and
//! numeric tokens through interacting layers `ReLU(attention(x) + W_res x)` and a linear logit
//! over the flattened tokens (plus the parallel MLP of AutoInt+). The Q/K/V and residual maps
//! are shared by every token, so each is one GEMM over all the block's tokens; attention runs
//! per example on Hiformer's kernel ([`Heads::attend_all`]).

use crate::ranking::compiled::{Dense, Tower};
use crate::ranking::compiled_hiformer::{AttendScratch, Heads, feature_tokens};

/// One interacting layer: token width `w` in, `heads · d_head` out.
#[derive(Debug, Clone)]
pub(crate) struct InteractingLayer {
    pub(crate) query: Dense,
    pub(crate) key: Dense,
    pub(crate) value: Dense,
    pub(crate) residual: Dense,
}

/// AutoInt compiled for inference.
#[derive(Debug, Clone)]
pub(crate) struct AutoIntNet {
    /// Numeric-token weights and biases, `[N][d]` each (absent without numeric features).
    pub(crate) numeric: Option<(Vec<f32>, Vec<f32>)>,
    pub(crate) layers: Vec<InteractingLayer>,
    pub(crate) heads: usize,
    pub(crate) d_head: usize,
    /// Over the flattened last tokens.
    pub(crate) head: Dense,
    /// AutoInt+: the MLP over the flat features.
    pub(crate) deep: Option<Tower>,
    pub(crate) dim: usize,
}

/// Per-block buffers.
#[derive(Default)]
pub(crate) struct AutoIntScratch {
    x: Vec<f32>,
    /// Q‖K‖V per token, `[m·L][3·inner]`, then regrouped per example as the kernel reads it.
    tokens_qkv: Vec<f32>,
    qkv: Vec<f32>,
    residual: Vec<f32>,
    attended: Vec<f32>,
    attend: AttendScratch,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl AutoIntNet {
    /// Adds the logits of the `m` rows of `flat` (field vectors, then numeric features, as
    /// `FlatInput` writes them; `field_width` floats of fields) to `logits`.
    pub(crate) fn logits(&self, flat: &[f32], m: usize, field_width: usize, s: &mut AutoIntScratch, logits: &mut [f32]) {
        let d = self.dim;
        let width = flat.len() / m.max(1);
        let numeric = self.numeric.as_ref().map_or(0, |(w, _)| w.len() / d).min(width - field_width);
        let tokens = field_width / d + numeric;
        s.x.resize(m * tokens * d, 0.0);
        for (row, x) in flat.chunks_exact(width.max(1)).zip(s.x.chunks_exact_mut(tokens * d)) {
            feature_tokens(row, field_width, self.numeric.as_ref(), d, x);
        }
        let inner = self.heads * self.d_head;
        let shape = Heads { tokens, queries: tokens, heads: self.heads, d_head: self.d_head };
        let example_width = 3 * tokens * inner;
        for layer in &self.layers {
            let (w, rows) = (layer.query.inputs(), m * tokens);
            s.tokens_qkv.resize(rows * 3 * inner, 0.0);
            for (i, projection) in [&layer.query, &layer.key, &layer.value].into_iter().enumerate() {
                projection.forward_strided(&s.x, w, rows, &mut s.tokens_qkv[i * inner..], 3 * inner);
            }
            layer.residual.forward(&s.x, rows, &mut s.residual);
            // Per example: Q of every token, then K, then V.
            s.qkv.resize(m * example_width, 0.0);
            for (from, to) in s.tokens_qkv.chunks_exact(tokens * 3 * inner).zip(s.qkv.chunks_exact_mut(example_width)) {
                for (t, token) in from.chunks_exact(3 * inner).enumerate() {
                    for (part, values) in token.chunks_exact(inner).enumerate() {
                        to[(part * tokens + t) * inner..(part * tokens + t + 1) * inner].copy_from_slice(values);
                    }
                }
            }
            s.attended.resize(rows * inner, 0.0);
            shape.attend_all(&s.qkv, example_width, &mut s.attended, &mut s.attend);
            s.x.clear();
            s.x.extend(s.attended.iter().zip(&s.residual).map(|(a, r)| (a + r).max(0.0)));
        }
        self.head.add_scalar(&s.x, logits);
        if let Some(deep) = &self.deep {
            let hidden = deep.hidden(flat, m, &mut s.a, &mut s.b);
            deep.output.add_scalar(hidden, logits);
        }
    }
}
