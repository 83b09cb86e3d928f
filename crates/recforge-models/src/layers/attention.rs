//! Multi-head scaled dot-product attention over feature tokens, with an optional key mask.
//!
//! [`attend`] is the kernel every attention layer in recforge calls (shared, feature-specific
//! and composite projections differ only in how they make Q, K and V); [`MultiHeadAttention`]
//! is the layer whose projections are shared by all tokens (AutoInt's interacting layer).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Bool;
use burn::tensor::activation::softmax;

/// Score given to masked keys before the softmax: its exponential underflows to exactly 0.
const MASKED_SCORE: f32 = -1e9;

/// Scaled dot-product attention, `heads` heads side by side in the last dimension.
///
/// `q [B, Lq, H·dk]`, `k [B, Lk, H·dk]`, `v [B, Lk, H·dv]`, `mask [B, Lk]` (true = this key
/// is ignored) → `[B, Lq, H·dv]`. Every query must keep at least one key.
pub fn attend(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize, mask: Option<&Tensor<2, Bool>>) -> Tensor<3> {
    let [batch, queries, qk] = q.dims();
    let [_, keys, vd] = v.dims();
    let (dk, dv) = (qk / heads, vd / heads);
    let q = q.reshape([batch, queries, heads, dk]).swap_dims(1, 2);
    let k = k.reshape([batch, keys, heads, dk]).swap_dims(1, 2);
    let v = v.reshape([batch, keys, heads, dv]).swap_dims(1, 2);
    let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((dk as f32).sqrt());
    if let Some(mask) = mask {
        let mask = mask.clone().reshape([batch, 1, 1, keys]).expand([batch, heads, queries, keys]);
        scores = scores.mask_fill(mask, MASKED_SCORE);
    }
    softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([batch, queries, heads * dv])
}

/// Sizes of a [`MultiHeadAttention`].
#[derive(Config, Debug)]
pub struct MultiHeadAttentionConfig {
    /// Token width in.
    pub d_input: usize,
    pub heads: usize,
    /// Width of each head's query, key and value.
    pub d_head: usize,
    /// Project the concatenated heads back to `d_input` (else the output is `heads · d_head` wide).
    #[config(default = true)]
    pub output_projection: bool,
}

/// Attention whose Q, K, V (and output) projections are shared by every token.
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Option<Linear>,
    heads: usize,
}

impl MultiHeadAttention {
    /// The number of heads (each `inner / heads` wide).
    pub fn heads(&self) -> usize {
        self.heads
    }
}

impl MultiHeadAttentionConfig {
    pub fn init(&self, device: &Device) -> MultiHeadAttention {
        let inner = self.heads * self.d_head;
        let projection = || LinearConfig::new(self.d_input, inner).with_bias(false).init(device);
        MultiHeadAttention {
            query: projection(),
            key: projection(),
            value: projection(),
            output: self.output_projection.then(|| LinearConfig::new(inner, self.d_input).init(device)),
            heads: self.heads,
        }
    }
}

impl MultiHeadAttention {
    /// `[B, L, d_input]` (mask `[B, L]`, true = ignored key) → `[B, L, d_input]` with the output
    /// projection, else `[B, L, heads · d_head]`.
    pub fn forward(&self, x: Tensor<3>, mask: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let attended = attend(
            self.query.forward(x.clone()),
            self.key.forward(x.clone()),
            self.value.forward(x),
            self.heads,
            mask,
        );
        match &self.output {
            Some(output) => output.forward(attended),
            None => attended,
        }
    }
}
