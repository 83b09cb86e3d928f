//! A Transformer over feature tokens (Vaswani et al., arXiv 1706.03762, as a CTR baseline in
//! the Hiformer paper): one token per feature, blocks of self-attention + FFN with projections
//! shared by all tokens, the output tokens flattened into an MLP. [`TokenTransformer`] is also
//! the body of the heterogeneous-attention ranker, which only swaps the projection kind.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layers::{
    FeatureAttention, FeatureAttentionConfig, Mlp, MlpConfig, ModelInput, NumericTokens, ProjectionKind, feature_tokens,
};
use crate::ranking::RankingModel;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformerConfig {
    pub embedding_dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub d_head: usize,
    pub d_ff: usize,
    /// Hidden widths of the MLP over the flattened output tokens.
    pub hidden: Vec<usize>,
    pub dropout: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig { embedding_dim: 16, layers: 2, heads: 2, d_head: 8, d_ff: 64, hidden: vec![256, 128], dropout: 0.0 }
    }
}

/// Feature tokens → attention blocks → flattened tokens → MLP.
#[derive(Module, Debug)]
pub struct TokenTransformer {
    numeric: Option<NumericTokens>,
    blocks: Vec<FeatureAttention>,
    head: Mlp,
}

impl TransformerConfig {
    pub fn init(&self, num_sparse: usize, num_dense: usize, device: &Device) -> TokenTransformer {
        self.init_with(ProjectionKind::Shared, num_sparse, num_dense, device)
    }

    /// The same architecture with another kind of projection.
    pub(crate) fn init_with(&self, kind: ProjectionKind, num_sparse: usize, num_dense: usize, device: &Device) -> TokenTransformer {
        let tokens = num_sparse + num_dense;
        let block = FeatureAttentionConfig::new(tokens, self.embedding_dim, self.heads, self.d_head, self.d_ff, kind)
            .with_dropout(self.dropout);
        TokenTransformer {
            numeric: NumericTokens::new(num_dense, self.embedding_dim, device),
            blocks: (0..self.layers).map(|_| block.init(device)).collect(),
            head: MlpConfig::new(tokens * self.embedding_dim, self.hidden.clone(), 1).with_dropout(self.dropout).init(device),
        }
    }
}

impl RankingModel for TokenTransformer {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        let mut x = feature_tokens(input, self.numeric.as_ref());
        for block in &self.blocks {
            x = block.forward(x, None);
        }
        let [size, tokens, width] = x.dims();
        self.head.forward(x.reshape([size, tokens * width])).reshape([size])
    }
}
