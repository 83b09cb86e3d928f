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
use crate::ranking::compiled::{Dense, values};
use crate::ranking::compiled_hiformer::{AttentionBlock, Norm, QkvPiece, TokenDense};

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

    /// The two LayerNorms (after attention, after the FFN).
    pub(crate) fn norms(&self) -> (&LayerNorm, &LayerNorm) {
        (&self.norm_attention, &self.norm_ffn)
    }

    pub(crate) fn heads(&self) -> usize {
        self.heads
    }

    /// Whether dropout is off (compiled training has none).
    pub(crate) fn without_dropout(&self) -> bool {
        self.dropout.is_identity()
    }

    /// Tokens per example (the per-token output projection has one weight each; 0 when shared).
    pub(crate) fn token_count(&self) -> usize {
        match &self.output {
            TokenProjection::PerToken(linear) => linear.weight.val().dims()[0],
            TokenProjection::Shared(_) => 0,
        }
    }

    /// This block compiled for inference over `tokens` tokens, computing the outputs of the
    /// tokens in `queries`; `None` unless Q/K/V are composite (Hiformer).
    pub(crate) fn compiled(&self, tokens: usize, queries: Range<usize>) -> Option<AttentionBlock> {
        let (QkvProjection::Composite(q), QkvProjection::Composite(k), QkvProjection::Composite(v)) =
            (&self.query, &self.key, &self.value)
        else {
            return None;
        };
        let TokenProjection::PerToken(output) = &self.output else { return None };
        let (TokenProjection::PerToken(ffn_in), TokenProjection::PerToken(ffn_out)) = (&self.ffn_in, &self.ffn_out) else {
            return None;
        };
        let inner = q.bias.val().dims()[0] / tokens;
        let [_, d_model] = output.bias.val().dims();
        let norm = |n: &LayerNorm| Norm {
            gamma: values(n.gamma.val()),
            beta: n.beta.as_ref().map_or_else(|| vec![0.0; d_model], |b| values(b.val())),
        };
        let q_columns = queries.start * inner..queries.end * inner;
        Some(AttentionBlock {
            qkv: composite_pieces([(q, q_columns), (k, 0..tokens * inner), (v, 0..tokens * inner)]),
            tokens,
            queries,
            heads: self.heads,
            d_head: inner / self.heads,
            d_model,
            output: token_dense(output),
            ffn_in: token_dense(ffn_in),
            ffn_out: token_dense(ffn_out),
            norm_attention: norm(&self.norm_attention),
            norm_ffn: norm(&self.norm_ffn),
        })
    }
}

fn token_dense(linear: &TokenLinear) -> TokenDense {
    let [_, d_in, d_out] = linear.weight.val().dims();
    TokenDense::new(&values(linear.weight.val()), &values(linear.bias.val()), d_in, d_out)
}

/// The Q‖K‖V row as GEMMs: one over the side-by-side weight columns when no projection is
/// factorised, else a down and an up GEMM per projection.
fn composite_pieces(projections: [(&CompositeProjection, Range<usize>); 3]) -> Vec<QkvPiece> {
    let mut pieces = Vec::new();
    let mut column = 0;
    let factorised = projections.iter().any(|(p, _)| p.down.is_some());
    let mut fused: Vec<(Vec<f32>, Vec<f32>, usize)> = Vec::new();
    for (projection, columns) in projections {
        let weight = values(projection.weight.val());
        let bias = values(projection.bias.val());
        let [rows, cols] = projection.weight.val().dims();
        let width = columns.len();
        let mut picked = Vec::with_capacity(rows * width);
        for row in weight.chunks_exact(cols) {
            picked.extend_from_slice(&row[columns.clone()]);
        }
        let bias = bias[columns].to_vec();
        if factorised {
            let down = projection.down.as_ref().map(|d| {
                let [inputs, rank] = d.val().dims();
                Dense::from_parts(values(d.val()), vec![0.0; rank], inputs, rank)
            });
            pieces.push(QkvPiece { down, up: Dense::from_parts(picked, bias, rows, width), column });
        } else {
            fused.push((picked, bias, width));
        }
        column += width;
    }
    if !factorised {
        let rows = fused[0].0.len() / fused[0].2.max(1);
        let mut weight = Vec::with_capacity(rows * column);
        for row in 0..rows {
            for (w, _, width) in &fused {
                weight.extend_from_slice(&w[row * width..(row + 1) * width]);
            }
        }
        let bias = fused.iter().flat_map(|(_, b, _)| b.iter().copied()).collect();
        pieces.push(QkvPiece { down: None, up: Dense::from_parts(weight, bias, rows, column), column: 0 });
    }
    pieces
}
