//! AutoInt (Song et al., arXiv 1810.11921): stacked multi-head self-attention over the field
//! embeddings ("interacting layers", each `ReLU(attention(x) + W_res x)`), flattened into a
//! logit; AutoInt+ adds a parallel MLP over the concatenated embeddings.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::layers::{
    Mlp, MlpConfig, ModelInput, MultiHeadAttention, MultiHeadAttentionConfig, NumericTokens, feature_tokens,
    flat_features,
};
use crate::ranking::RankingModel;
use crate::ranking::compiled::{Dense, values};
use crate::ranking::compiled_autoint::{AutoIntNet, InteractingLayer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoIntConfig {
    pub embedding_dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub d_head: usize,
    /// AutoInt+ when non-empty: a parallel MLP with these hidden widths.
    pub hidden: Vec<usize>,
    pub dropout: f64,
}

impl Default for AutoIntConfig {
    fn default() -> Self {
        AutoIntConfig { embedding_dim: 16, layers: 3, heads: 2, d_head: 16, hidden: Vec::new(), dropout: 0.0 }
    }
}

#[derive(Module, Debug)]
pub struct AutoInt {
    pub(crate) numeric: Option<NumericTokens>,
    attention: Vec<MultiHeadAttention>,
    residual: Vec<Linear>,
    head: Linear,
    pub(crate) deep: Option<Mlp>,
}

impl AutoIntConfig {
    pub fn init(&self, num_sparse: usize, num_dense: usize, device: &Device) -> AutoInt {
        let inner = self.heads * self.d_head;
        let widths: Vec<usize> = (0..self.layers).map(|l| if l == 0 { self.embedding_dim } else { inner }).collect();
        let tokens = num_sparse + num_dense;
        let last = if self.layers == 0 { self.embedding_dim } else { inner };
        AutoInt {
            numeric: NumericTokens::new(num_dense, self.embedding_dim, device),
            attention: widths
                .iter()
                .map(|&w| MultiHeadAttentionConfig::new(w, self.heads, self.d_head).with_output_projection(false).init(device))
                .collect(),
            residual: widths.iter().map(|&w| LinearConfig::new(w, inner).with_bias(false).init(device)).collect(),
            head: LinearConfig::new(tokens * last, 1).init(device),
            deep: (!self.hidden.is_empty()).then(|| {
                MlpConfig::new(num_sparse * self.embedding_dim + num_dense, self.hidden.clone(), 1)
                    .with_dropout(self.dropout)
                    .init(device)
            }),
        }
    }
}

impl AutoInt {
    /// The weights compiled for inference (dropout is off there).
    pub(crate) fn compiled(&self) -> AutoIntNet {
        // The token width: the first layer's input, else the numeric tokens' (without either,
        // the head reads the fields as they are, and any width that divides them will do).
        let dim = match (self.residual.first(), &self.numeric) {
            (Some(r), _) => r.weight.val().dims()[0],
            (None, Some(n)) => n.weight.val().dims()[1],
            (None, None) => 1,
        };
        let (heads, inner) = match self.attention.first() {
            Some(a) => (a.heads(), a.query.weight.val().dims()[1]),
            None => (1, dim),
        };
        AutoIntNet {
            numeric: self.numeric.as_ref().map(|n| (values(n.weight.val()), values(n.bias.val()))),
            layers: self
                .attention
                .iter()
                .zip(&self.residual)
                .map(|(a, r)| InteractingLayer { query: Dense::of(&a.query), key: Dense::of(&a.key), value: Dense::of(&a.value), residual: Dense::of(r) })
                .collect(),
            heads,
            d_head: inner / heads,
            head: Dense::of(&self.head),
            deep: self.deep.as_ref().map(|d| d.compiled()),
            dim,
        }
    }
}

impl RankingModel for AutoInt {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        let mut x = feature_tokens(input, self.numeric.as_ref());
        for (attention, residual) in self.attention.iter().zip(&self.residual) {
            x = relu(attention.forward(x.clone(), None) + residual.forward(x));
        }
        let [size, tokens, width] = x.dims();
        let mut logits = self.head.forward(x.reshape([size, tokens * width]));
        if let Some(deep) = &self.deep {
            logits = logits + deep.forward(flat_features(input));
        }
        logits.reshape([size])
    }
}
