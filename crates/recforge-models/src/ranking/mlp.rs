//! MLP ranker: field embeddings concatenated with the numeric features, through an MLP.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layers::{Mlp, MlpConfig, ModelInput, flat_features};
use crate::ranking::RankingModel;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpRankerConfig {
    #[serde(default = "default_embedding_dim")]
    pub embedding_dim: usize,
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub dropout: f64,
}

fn default_embedding_dim() -> usize {
    16
}
fn default_hidden() -> Vec<usize> {
    vec![256, 128]
}

impl Default for MlpRankerConfig {
    fn default() -> Self {
        MlpRankerConfig { embedding_dim: default_embedding_dim(), hidden: default_hidden(), dropout: 0.0 }
    }
}

#[derive(Module, Debug)]
pub struct MlpRanker {
    mlp: Mlp,
}

impl MlpRankerConfig {
    pub fn init(&self, num_sparse: usize, num_dense: usize, device: &Device) -> MlpRanker {
        let d_input = num_sparse * self.embedding_dim + num_dense;
        MlpRanker {
            mlp: MlpConfig::new(d_input, self.hidden.clone(), 1).with_dropout(self.dropout).init(device),
        }
    }
}

impl MlpRanker {
    /// Logits `[batch]` and the shared bottom `[batch, last hidden width]` the head reads.
    pub fn forward_with_hidden(&self, input: &ModelInput) -> (Tensor<1>, Tensor<2>) {
        let x = flat_features(input);
        let size = x.dims()[0];
        let hidden = self.mlp.forward_hidden(x);
        (self.mlp.head(hidden.clone()).reshape([size]), hidden)
    }
}

impl MlpRanker {
    /// Logits `[batch]` and every hidden layer's output `[batch, width_l]`, first to last.
    pub fn forward_layers(&self, input: &ModelInput) -> (Tensor<1>, Vec<Tensor<2>>) {
        let x = flat_features(input);
        let size = x.dims()[0];
        let layers = self.mlp.forward_layers(x.clone());
        let last = layers.last().cloned().unwrap_or(x);
        (self.mlp.head(last).reshape([size]), layers)
    }

    /// The output layer over a shared bottom `[batch, width]` → logits `[batch]`.
    pub fn head_from_hidden(&self, hidden: Tensor<2>) -> Tensor<1> {
        let size = hidden.dims()[0];
        self.mlp.head(hidden).reshape([size])
    }
}

impl MlpRanker {
    /// Whether dropout is off (compiled training has none).
    pub(crate) fn without_dropout(&self) -> bool {
        self.mlp.without_dropout()
    }

    pub(crate) fn compiled(&self) -> crate::ranking::compiled::Net {
        crate::ranking::compiled::Net::Mlp(self.mlp.compiled())
    }
}

impl RankingModel for MlpRanker {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        self.forward_with_hidden(input).0
    }
}
