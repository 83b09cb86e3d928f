//! Ranking models: each scores a batch of (user, item, context) examples with one logit.
//!
//! One file per architecture, all behind [`RankingModel`]; [`ModelConfig`] is the `[model]`
//! table of a training config and [`Ranker`] the enum the trainer holds. Adding a model is one
//! file, one config variant and one enum variant — the trainer never names a model.

pub mod lr;
pub mod mlp;

use burn::prelude::*;
use recforge_data::FeatureLayout;
use serde::{Deserialize, Serialize};

use crate::layers::ModelInput;
pub use lr::{LogisticRegression, LrConfig};
pub use mlp::{MlpRanker, MlpRankerConfig};

/// A model that maps embedded examples to click logits.
pub trait RankingModel {
    /// Logits `[batch]` for the examples in `input`.
    fn forward(&self, input: &ModelInput) -> Tensor<1>;
}

/// The `[model]` table of a training config, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    Lr(LrConfig),
    Mlp(MlpRankerConfig),
}

impl ModelConfig {
    /// Short name used in run names, tables and reports.
    pub fn name(&self) -> &'static str {
        match self {
            ModelConfig::Lr(_) => "lr",
            ModelConfig::Mlp(_) => "mlp",
        }
    }

    /// Width of the sparse embeddings this model consumes.
    pub fn embedding_dim(&self) -> usize {
        match self {
            ModelConfig::Lr(_) => LrConfig::EMBEDDING_DIM,
            ModelConfig::Mlp(c) => c.embedding_dim,
        }
    }

    /// Embedding init range: LR starts at zero weights, deep models at small random values.
    pub fn embedding_init_scale(&self) -> f32 {
        match self {
            ModelConfig::Lr(_) => 0.0,
            _ => 0.01,
        }
    }

    /// Build the dense part of the model for data of this layout.
    pub fn init(&self, layout: &FeatureLayout, device: &Device) -> Ranker {
        let (num_sparse, num_dense) = (layout.sparse.len(), layout.dense.len());
        match self {
            ModelConfig::Lr(c) => Ranker::Lr(c.init(num_dense, device)),
            ModelConfig::Mlp(c) => Ranker::Mlp(c.init(num_sparse, num_dense, device)),
        }
    }
}

/// Any ranking model recforge can train.
#[derive(Module, Debug)]
pub enum Ranker {
    Lr(LogisticRegression),
    Mlp(MlpRanker),
}

impl RankingModel for Ranker {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        match self {
            Ranker::Lr(m) => m.forward(input),
            Ranker::Mlp(m) => m.forward(input),
        }
    }
}
