//! The heterogeneous-attention ranker (Gui et al., Hiformer, arXiv 2311.05884, §4.2): the
//! feature-token Transformer with feature-specific Q/K/V/O projections and FFNs, so each
//! feature pair interacts in its own subspace: `att(i, j) = softmax_j((e_i W_i^Q)(e_j W_j^K)ᵀ/√d_k)`.

use burn::prelude::*;

use crate::layers::ProjectionKind;
use crate::ranking::transformer::{TokenTransformer, TransformerConfig};

/// Same sizes as the vanilla Transformer; only the projections differ.
pub type HeteroAttentionConfig = TransformerConfig;

/// Build the heterogeneous-attention ranker for `num_sparse` fields and `num_dense` numeric features.
pub fn init(config: &HeteroAttentionConfig, num_sparse: usize, num_dense: usize, device: &Device) -> TokenTransformer {
    config.init_with(ProjectionKind::FeatureSpecific, num_sparse, num_dense, device)
}
