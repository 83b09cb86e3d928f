//! The feature-token attention block (Gui et al., Hiformer, arXiv 2311.05884, §4.2-4.3):
//! multi-head attention, output projection, residual + LayerNorm, two-layer ReLU FFN,
//! residual + LayerNorm. What makes Q/K/V and the other projections picks the model:
//! shared by all tokens = the vanilla Transformer block; one per feature = heterogeneous
//! attention; composite Q/K/V (each mixes every feature) = the Hiformer layer.

use std::ops::Range;

use burn::nn::{LayerNorm, LayerNormConfig, LinearConfig};
use burn::prelude::*;
use burn::tensor::Bool;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::layers::attention::attend;
use crate::layers::composite_projection::CompositeProjection;
use crate::layers::dropout::Dropout;
use crate::layers::projection::{TokenLinear, TokenProjection};

/// How the block's projections are parameterised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionKind {
    /// One weight for every token (vanilla Transformer).
    Shared,
    /// One weight per feature token (heterogeneous attention).
    FeatureSpecific,
    /// Composite Q/K/V over all tokens, feature-specific output and FFN (Hiformer).
    Composite,
}

/// Where a query, key or value comes from.
#[derive(Module, Debug)]
pub enum QkvProjection {
    Token(TokenProjection),
    Composite(CompositeProjection),
}

impl QkvProjection {
    /// `x [B, L, d]` → the projections of tokens `out`, `[B, |out|, d_qkv]`.
    pub fn forward(&self, x: Tensor<3>, out: Range<usize>) -> Tensor<3> {
        match self {
            QkvProjection::Token(p) => p.forward(x.narrow(1, out.start, out.len()), out.start),
            QkvProjection::Composite(p) => p.forward(x, out),
        }
    }
}

/// Sizes of a [`FeatureAttention`] block.
#[derive(Config, Debug)]
pub struct FeatureAttentionConfig {
    /// Tokens per example (the feature-specific and composite projections are per token).
    pub tokens: usize,
    /// Token width.
    pub d_model: usize,
    pub heads: usize,
    /// Width of each head's query, key and value.
    pub d_head: usize,
    /// Hidden width of the FFN.
    pub d_ff: usize,
    pub kind: ProjectionKind,
    /// Build composite projections already factorised to this rank (serving exports).
    #[config(default = "None")]
    pub rank: Option<usize>,
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// One attention block over feature tokens.
#[derive(Module, Debug)]
pub struct FeatureAttention {
    pub query: QkvProjection,
    pub key: QkvProjection,
    pub value: QkvProjection,
    pub output: TokenProjection,
    pub ffn_in: TokenProjection,
    pub ffn_out: TokenProjection,
    norm_attention: LayerNorm,
    norm_ffn: LayerNorm,
    dropout: Dropout,
    heads: usize,
}

impl FeatureAttentionConfig {
    pub fn init(&self, device: &Device) -> FeatureAttention {
        let inner = self.heads * self.d_head;
        let token = |d_in: usize, d_out: usize, bias: bool| match self.kind {
            ProjectionKind::Shared => TokenProjection::Shared(LinearConfig::new(d_in, d_out).with_bias(bias).init(device)),
            _ => TokenProjection::PerToken(TokenLinear::new(self.tokens, d_in, d_out, device)),
        };
        let qkv = || match self.kind {
            ProjectionKind::Composite => {
                QkvProjection::Composite(CompositeProjection::new(self.tokens, self.d_model, inner, self.rank, device))
            }
            _ => QkvProjection::Token(token(self.d_model, inner, false)),
        };
        FeatureAttention {
            query: qkv(),
            key: qkv(),
            value: qkv(),
            output: token(inner, self.d_model, true),
            ffn_in: token(self.d_model, self.d_ff, true),
            ffn_out: token(self.d_ff, self.d_model, true),
            norm_attention: LayerNormConfig::new(self.d_model).init(device),
            norm_ffn: LayerNormConfig::new(self.d_model).init(device),
            dropout: Dropout::new(self.dropout),
            heads: self.heads,
        }
    }
}

impl FeatureAttention {
    /// `[B, L, d]` → `[B, L, d]`; `mask [B, L]` marks tokens no query may attend to.
    pub fn forward(&self, x: Tensor<3>, mask: Option<&Tensor<2, Bool>>) -> Tensor<3> {
        let tokens = x.dims()[1];
        self.forward_queries(x, mask, 0..tokens)
    }

    /// The block's outputs for the tokens in `queries` only, `[B, |queries|, d]`: keys and
    /// values still come from every token, so these rows equal the same rows of
    /// [`Self::forward`] (Hiformer's last-layer pruning, O(L²) → O(|queries|·L)).
    pub fn forward_queries(&self, x: Tensor<3>, mask: Option<&Tensor<2, Bool>>, queries: Range<usize>) -> Tensor<3> {
        let tokens = x.dims()[1];
        let (first, n) = (queries.start, queries.len());
        let attended = attend(
            self.query.forward(x.clone(), queries),
            self.key.forward(x.clone(), 0..tokens),
            self.value.forward(x.clone(), 0..tokens),
            self.heads,
            mask,
        );
        let residual = x.narrow(1, first, n);
        let h = self.norm_attention.forward(residual + self.dropout.forward(self.output.forward(attended, first)));
        let f = self.ffn_out.forward(self.dropout.forward(relu(self.ffn_in.forward(h.clone(), first))), first);
        self.norm_ffn.forward(h + self.dropout.forward(f))
    }

    /// The same block with every composite Q/K/V projection factorised to rank `rank`.
    pub fn low_rank(self, rank: usize) -> Self {
        let factor = |p: QkvProjection| match p {
            QkvProjection::Composite(c) => QkvProjection::Composite(c.low_rank(rank)),
            other => other,
        };
        FeatureAttention { query: factor(self.query), key: factor(self.key), value: factor(self.value), ..self }
    }

    /// The same block with each feature-specific Q/K/V replaced by the block-diagonal
    /// composite projection that computes the same thing (Hiformer's special case; a warm start).
    pub fn into_composite(self) -> Self {
        let widen = |p: QkvProjection| match p {
            QkvProjection::Token(TokenProjection::PerToken(linear)) => {
                QkvProjection::Composite(CompositeProjection::from_token_linear(&linear))
            }
            other => other,
        };
        FeatureAttention { query: widen(self.query), key: widen(self.key), value: widen(self.value), ..self }
    }

    /// The inner width of the composite query projection, if it is one.
    pub fn composite_rank(&self) -> Option<usize> {
        match &self.query {
            QkvProjection::Composite(c) => Some(c.rank()),
            QkvProjection::Token(_) => None,
        }
    }
}
