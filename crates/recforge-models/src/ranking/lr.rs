//! Logistic regression over one-hot fields: `logit = b + Σ_f w_f[id_f] + w·x_dense`.
//!
//! The per-id weights are the EmbeddingStore's width-1 tables, so the sparse part trains with
//! the same row-wise optimizers as any embedding; the dense weights and bias live here.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layers::ModelInput;
use crate::ranking::RankingModel;

/// Logistic regression has no width to choose: its "embeddings" are scalars.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrConfig {}

#[derive(Module, Debug)]
pub struct LogisticRegression {
    /// Dense weights and the global bias (`[num_dense or 1] → 1`).
    linear: Linear,
    has_dense: bool,
}

impl LrConfig {
    pub const EMBEDDING_DIM: usize = 1;

    pub fn init(&self, num_dense: usize, device: &Device) -> LogisticRegression {
        LogisticRegression {
            linear: LinearConfig::new(num_dense.max(1), 1)
                .with_initializer(burn::nn::Initializer::Zeros)
                .init(device),
            has_dense: num_dense > 0,
        }
    }
}

impl LogisticRegression {
    pub(crate) fn compiled(&self) -> crate::ranking::compiled::Net {
        crate::ranking::compiled::Net::Lr { linear: crate::ranking::compiled::Dense::of(&self.linear), has_dense: self.has_dense }
    }
}

impl RankingModel for LogisticRegression {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        let size = input.batch_size();
        let sparse: Tensor<1> = if input.fields.dims()[1] == 0 {
            // Numeric features only: no per-id weights.
            Tensor::zeros([size], &input.fields.device())
        } else {
            input.fields.clone().sum_dim(2).sum_dim(1).reshape([size])
        };
        let dense = match (&input.dense, self.has_dense) {
            (Some(x), true) => x.clone(),
            // No numeric features: the linear layer reduces to its bias.
            _ => Tensor::zeros([size, 1], &input.fields.device()),
        };
        sparse + self.linear.forward(dense).reshape([size])
    }
}
