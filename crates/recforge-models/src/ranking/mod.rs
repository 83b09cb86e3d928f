//! Ranking models: each scores a batch of (user, item, context) examples with one logit.
//!
//! One file per architecture, all behind [`RankingModel`]; [`ModelConfig`] is the `[model]`
//! table of a training config and [`Ranker`] the enum the trainer holds. Adding a model is one
//! file, one config variant and one enum variant — the trainer never names a model.

pub mod autoint;
pub mod compiled;
pub(crate) mod compiled_autoint;
pub(crate) mod compiled_hiformer;
pub mod compiled_train;
mod compiled_train_autoint;
mod compiled_train_hiformer;
pub mod dcn_v2;
pub mod hetero_attention;
pub mod hiformer;
pub mod hiformer_serving;
pub mod lr;
pub mod mlp;
pub mod transformer;

use burn::prelude::*;
use recforge_data::FeatureLayout;
use serde::{Deserialize, Serialize};

use crate::layers::ModelInput;
pub use autoint::{AutoInt, AutoIntConfig};
pub use compiled::CompiledRanker;
pub use compiled_train::{CompiledTrainer, DenseRule, StepGradients};
pub use dcn_v2::{DcnStructure, DcnV2, DcnV2Config};
pub use hetero_attention::HeteroAttentionConfig;
pub use hiformer::{Hiformer, HiformerConfig};
pub use hiformer_serving::{ServingError, to_serving};
pub use lr::{LogisticRegression, LrConfig};
pub use mlp::{MlpRanker, MlpRankerConfig};
pub use transformer::{TokenTransformer, TransformerConfig};

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
    DcnV2(DcnV2Config),
    #[serde(rename = "autoint")]
    AutoInt(AutoIntConfig),
    Transformer(TransformerConfig),
    HeteroAttention(HeteroAttentionConfig),
    Hiformer(HiformerConfig),
}

impl ModelConfig {
    /// Every `kind`, in the order tables list them.
    pub const KINDS: [&'static str; 7] = ["lr", "mlp", "dcn_v2", "autoint", "transformer", "hetero_attention", "hiformer"];

    /// Short name used in run names, tables and reports.
    pub fn name(&self) -> &'static str {
        match self {
            ModelConfig::Lr(_) => "lr",
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::DcnV2(_) => "dcn_v2",
            ModelConfig::AutoInt(c) if !c.hidden.is_empty() => "autoint+",
            ModelConfig::AutoInt(_) => "autoint",
            ModelConfig::Transformer(_) => "transformer",
            ModelConfig::HeteroAttention(_) => "hetero_attention",
            ModelConfig::Hiformer(_) => "hiformer",
        }
    }

    /// Whether the model trains on numeric features alone (no token feature to embed):
    /// LR, MLP and DCN-v2 read one flat vector; the attention models need feature tokens.
    pub fn trains_without_tokens(&self) -> bool {
        matches!(self, ModelConfig::Lr(_) | ModelConfig::Mlp(_) | ModelConfig::DcnV2(_))
    }

    /// Width of the sparse embeddings this model consumes.
    pub fn embedding_dim(&self) -> usize {
        match self {
            ModelConfig::Lr(_) => LrConfig::EMBEDDING_DIM,
            ModelConfig::Mlp(c) => c.embedding_dim,
            ModelConfig::DcnV2(c) => c.embedding_dim,
            ModelConfig::AutoInt(c) => c.embedding_dim,
            ModelConfig::Transformer(c) | ModelConfig::HeteroAttention(c) => c.embedding_dim,
            ModelConfig::Hiformer(c) => c.embedding_dim,
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
            ModelConfig::DcnV2(c) => Ranker::DcnV2(c.init(num_sparse, num_dense, device)),
            ModelConfig::AutoInt(c) => Ranker::AutoInt(c.init(num_sparse, num_dense, device)),
            ModelConfig::Transformer(c) => Ranker::Transformer(c.init(num_sparse, num_dense, device)),
            ModelConfig::HeteroAttention(c) => {
                Ranker::HeteroAttention(hetero_attention::init(c, num_sparse, num_dense, device))
            }
            ModelConfig::Hiformer(c) => Ranker::Hiformer(c.init(num_sparse, num_dense, device)),
        }
    }
}

/// Any ranking model recforge can train.
#[derive(Module, Debug)]
pub enum Ranker {
    Lr(LogisticRegression),
    Mlp(MlpRanker),
    DcnV2(DcnV2),
    AutoInt(AutoInt),
    Transformer(TokenTransformer),
    HeteroAttention(TokenTransformer),
    Hiformer(Hiformer),
}

impl Ranker {
    /// Logits `[batch]` and the shared bottom `[batch, width]` (what the output layer reads),
    /// for the models that have one: MLP, DCN-v2 and Hiformer; `None` for the others. Heads
    /// beside the served one (auxiliary distillation) attach here.
    pub fn forward_with_hidden(&self, input: &ModelInput) -> Option<(Tensor<1>, Tensor<2>)> {
        match self {
            Ranker::Mlp(m) => Some(m.forward_with_hidden(input)),
            Ranker::DcnV2(m) => Some(m.forward_with_hidden(input)),
            Ranker::Hiformer(m) => Some(m.forward_with_hidden(input)),
            Ranker::Lr(_) | Ranker::AutoInt(_) | Ranker::Transformer(_) | Ranker::HeteroAttention(_) => None,
        }
    }
}

impl Ranker {
    /// Logits `[batch]` and the intermediate layers first to last (MLP: every hidden layer;
    /// DCN-v2: the cross output, then every deep hidden layer); `None` for the other models.
    /// Layer-wise ensembles (LEVI) read these.
    pub fn forward_layers(&self, input: &ModelInput) -> Option<(Tensor<1>, Vec<Tensor<2>>)> {
        match self {
            Ranker::Mlp(m) => Some(m.forward_layers(input)),
            Ranker::DcnV2(m) => Some(m.forward_layers(input)),
            _ => None,
        }
    }

    /// The output layer alone, over the shared bottom [`Ranker::forward_with_hidden`] returns
    /// (`[batch, width]` → logits `[batch]`): a teacher's "upper layers" for interactive KD.
    pub fn head_from_hidden(&self, hidden: Tensor<2>) -> Option<Tensor<1>> {
        match self {
            Ranker::Mlp(m) => Some(m.head_from_hidden(hidden)),
            Ranker::DcnV2(m) => Some(m.head_from_hidden(hidden)),
            Ranker::Hiformer(m) => Some(m.head_from_hidden(hidden)),
            Ranker::Lr(_) | Ranker::AutoInt(_) | Ranker::Transformer(_) | Ranker::HeteroAttention(_) => None,
        }
    }
}

impl RankingModel for Ranker {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        match self {
            Ranker::Lr(m) => m.forward(input),
            Ranker::Mlp(m) => m.forward(input),
            Ranker::DcnV2(m) => m.forward(input),
            Ranker::AutoInt(m) => m.forward(input),
            Ranker::Transformer(m) | Ranker::HeteroAttention(m) => m.forward(input),
            Ranker::Hiformer(m) => m.forward(input),
        }
    }
}
