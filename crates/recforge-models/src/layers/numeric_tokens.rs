//! The two views of a [`ModelInput`] the ranking models read: one flat vector per example
//! (embeddings concatenated with the numeric features, for MLPs and cross networks), or one
//! token per feature (for attention), where each numeric feature becomes a token through its
//! own projection `x_n · w_n + b_n` (Hiformer §4.1; AutoInt's numeric embedding).

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;

use crate::layers::ModelInput;

/// Initial spread of the numeric-token weights, the scale of the embedding tables' init.
const NUMERIC_TOKEN_INIT_STD: f64 = 0.01;

/// Per-feature projections of `N` numeric features into `d`-wide tokens.
#[derive(Module, Debug)]
pub struct NumericTokens {
    /// `[N, d]`.
    pub weight: Param<Tensor<2>>,
    /// `[N, d]`.
    pub bias: Param<Tensor<2>>,
}

impl NumericTokens {
    /// `None` when there are no numeric features.
    pub fn new(num_dense: usize, dim: usize, device: &Device) -> Option<Self> {
        (num_dense > 0).then(|| NumericTokens {
            weight: Initializer::Normal { mean: 0.0, std: NUMERIC_TOKEN_INIT_STD }.init([num_dense, dim], device),
            bias: Initializer::Zeros.init([num_dense, dim], device),
        })
    }

    /// `[B, N]` → `[B, N, d]`.
    pub fn forward(&self, dense: Tensor<2>) -> Tensor<3> {
        dense.unsqueeze_dim::<3>(2) * self.weight.val().unsqueeze_dim::<3>(0) + self.bias.val().unsqueeze_dim::<3>(0)
    }
}

/// All feature tokens `[B, F + N, d]`: the embedded fields, then one token per numeric feature.
pub fn feature_tokens(input: &ModelInput, numeric: Option<&NumericTokens>) -> Tensor<3> {
    match (numeric, &input.dense) {
        (Some(projection), Some(dense)) => Tensor::cat(vec![input.fields.clone(), projection.forward(dense.clone())], 1),
        _ => input.fields.clone(),
    }
}

/// One flat vector per example `[B, F·d + N]`: the embeddings, then the raw numeric features.
/// Data without token features (F = 0) gives the numeric block alone.
pub fn flat_features(input: &ModelInput) -> Tensor<2> {
    let [size, fields, dim] = input.fields.dims();
    match &input.dense {
        Some(dense) if fields == 0 => dense.clone(),
        Some(dense) => Tensor::cat(vec![input.fields.clone().reshape([size, fields * dim]), dense.clone()], 1),
        None => input.fields.clone().reshape([size, fields * dim]),
    }
}
