//! Hiformer (Gui et al., arXiv 2311.05884): learnable task tokens join the feature tokens;
//! Hiformer layers (composite Q/K/V: every query, key and value mixes all tokens, then
//! feature-specific output projection and FFN) model heterogeneous interactions; the task
//! tokens' outputs feed an MLP. Serving forms: low-rank Q/K/V and a last layer computed for the
//! task tokens only (see `hiformer_serving.rs`).

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layers::{
    FeatureAttention, FeatureAttentionConfig, Mlp, MlpConfig, ModelInput, NumericTokens, ProjectionKind, feature_tokens,
};
use crate::ranking::RankingModel;
use crate::ranking::compiled::values;
use crate::ranking::compiled_hiformer::HiformerNet;

/// Initial spread of the task tokens, the scale of the embedding tables' init.
const TASK_TOKEN_INIT_STD: f64 = 0.01;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HiformerConfig {
    pub embedding_dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub d_head: usize,
    pub d_ff: usize,
    /// Learnable tokens whose last-layer outputs feed the head.
    pub task_tokens: usize,
    /// Hidden widths of the MLP over the task tokens' outputs.
    pub hidden: Vec<usize>,
    pub dropout: f64,
    /// Serving form: composite projections factorised to this rank (set by `recforge export`).
    pub low_rank: Option<usize>,
    /// Serving form: compute the last layer for the task tokens only (exact; set by export).
    pub prune_last_layer: bool,
}

impl Default for HiformerConfig {
    fn default() -> Self {
        HiformerConfig {
            embedding_dim: 16,
            layers: 2,
            heads: 2,
            d_head: 8,
            d_ff: 64,
            task_tokens: 4,
            hidden: vec![128],
            dropout: 0.0,
            low_rank: None,
            prune_last_layer: false,
        }
    }
}

#[derive(Module, Debug)]
pub struct Hiformer {
    pub(crate) numeric: Option<NumericTokens>,
    /// `[task_tokens, d]`.
    pub(crate) task: Param<Tensor<2>>,
    pub(crate) layers: Vec<FeatureAttention>,
    pub(crate) head: Mlp,
    pub(crate) prune_last_layer: bool,
}

impl HiformerConfig {
    pub fn init(&self, num_sparse: usize, num_dense: usize, device: &Device) -> Hiformer {
        let task_tokens = self.task_tokens.max(1);
        let tokens = task_tokens + num_sparse + num_dense;
        let layer = FeatureAttentionConfig::new(
            tokens,
            self.embedding_dim,
            self.heads,
            self.d_head,
            self.d_ff,
            ProjectionKind::Composite,
        )
        .with_rank(self.low_rank)
        .with_dropout(self.dropout);
        Hiformer {
            numeric: NumericTokens::new(num_dense, self.embedding_dim, device),
            task: Initializer::Normal { mean: 0.0, std: TASK_TOKEN_INIT_STD }
                .init([task_tokens, self.embedding_dim], device),
            layers: (0..self.layers).map(|_| layer.init(device)).collect(),
            head: MlpConfig::new(task_tokens * self.embedding_dim, self.hidden.clone(), 1)
                .with_dropout(self.dropout)
                .init(device),
            prune_last_layer: self.prune_last_layer,
        }
    }
}

impl Hiformer {
    pub fn task_tokens(&self) -> usize {
        self.task.val().dims()[0]
    }
}

impl Hiformer {
    /// Logits `[batch]` and the shared bottom `[batch, last head hidden width]`: the task
    /// tokens' outputs through the head MLP's hidden layers.
    pub fn forward_with_hidden(&self, input: &ModelInput) -> (Tensor<1>, Tensor<2>) {
        let features = feature_tokens(input, self.numeric.as_ref());
        let [size, _, dim] = features.dims();
        let t = self.task_tokens();
        let task = self.task.val().unsqueeze_dim::<3>(0).expand([size, t, dim]);
        let mut x = Tensor::cat(vec![task, features], 1);
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            x = if i == last && self.prune_last_layer { layer.forward_queries(x, None, 0..t) } else { layer.forward(x, None) };
        }
        let hidden = self.head.forward_hidden(x.narrow(1, 0, t).reshape([size, t * dim]));
        (self.head.head(hidden.clone()).reshape([size]), hidden)
    }
}

impl Hiformer {
    /// The output layer over the shared bottom of [`Hiformer::forward_with_hidden`].
    pub fn head_from_hidden(&self, hidden: Tensor<2>) -> Tensor<1> {
        let size = hidden.dims()[0];
        self.head.head(hidden).reshape([size])
    }
}

impl Hiformer {
    /// The weights compiled for inference (dropout is off there).
    pub(crate) fn compiled(&self) -> HiformerNet {
        let [t, dim] = self.task.val().dims();
        let tokens = self.layers.first().map_or(t, FeatureAttention::token_count);
        let last = self.layers.len().saturating_sub(1);
        let blocks = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let queries = if i == last && self.prune_last_layer { 0..t } else { 0..tokens };
                layer.compiled(tokens, queries).expect("Hiformer layers have composite Q/K/V and per-token projections")
            })
            .collect();
        HiformerNet {
            task: values(self.task.val()),
            numeric: self.numeric.as_ref().map(|n| (values(n.weight.val()), values(n.bias.val()))),
            blocks,
            head: self.head.compiled(),
            dim,
        }
    }
}

impl RankingModel for Hiformer {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        self.forward_with_hidden(input).0
    }
}
