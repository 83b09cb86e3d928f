//! Hiformer's composite projection (Gui et al., arXiv 2311.05884, §4.3).
//!
//! Every token's query (key, value) reads all L token embeddings at once:
//! `[Q̂_1 ‖ … ‖ Q̂_L] = [e_1 ‖ … ‖ e_L] Ŵ + b`, `Ŵ ∈ R^{L·d_in × L·d_out}`. Heterogeneous
//! attention is the block-diagonal special case ([`CompositeProjection::from_token_linear`]).
//! For serving, `Ŵ ≈ D U` with rank r (truncated SVD, [`CompositeProjection::low_rank`]), and
//! only the output columns of the tokens asked for are computed (last-layer pruning).

use std::ops::Range;

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;

use crate::layers::projection::TokenLinear;
use crate::linalg::truncated_svd;

/// `Ŵ` (or its factors `down · weight`) and the bias of one composite projection.
#[derive(Module, Debug)]
pub struct CompositeProjection {
    /// `[L·d_in, r]` when factorised, absent at full rank.
    pub down: Option<Param<Tensor<2>>>,
    /// `[L·d_in or r, L·d_out]`.
    pub weight: Param<Tensor<2>>,
    /// `[L·d_out]`.
    pub bias: Param<Tensor<1>>,
    d_out: usize,
}

impl CompositeProjection {
    /// A fresh projection over `tokens` tokens; `rank` builds the factorised form directly
    /// (the shape a low-rank export is loaded into).
    pub fn new(tokens: usize, d_in: usize, d_out: usize, rank: Option<usize>, device: &Device) -> Self {
        let (n_in, n_out) = (tokens * d_in, tokens * d_out);
        let uniform = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false };
        let (down, inner) = match rank {
            Some(r) => (Some(uniform.init_with([n_in, r], Some(n_in), Some(r), device)), r),
            None => (None, n_in),
        };
        CompositeProjection {
            down,
            weight: uniform.init_with([inner, n_out], Some(inner), Some(n_out), device),
            bias: Initializer::Zeros.init([n_out], device),
            d_out,
        }
    }

    /// `x [B, L, d_in]` → the projections of tokens `out` only, `[B, |out|, d_out]`.
    pub fn forward(&self, x: Tensor<3>, out: Range<usize>) -> Tensor<3> {
        let [batch, tokens, d_in] = x.dims();
        let n = out.len();
        let mut flat = x.reshape([batch, tokens * d_in]);
        if let Some(down) = &self.down {
            flat = flat.matmul(down.val());
        }
        let weight = self.weight.val().narrow(1, out.start * self.d_out, n * self.d_out);
        let bias = self.bias.val().narrow(0, out.start * self.d_out, n * self.d_out);
        (flat.matmul(weight) + bias.unsqueeze_dim::<2>(0)).reshape([batch, n, self.d_out])
    }

    /// The full `[L·d_in, L·d_out]` matrix (the product of the factors when factorised).
    pub fn full_weight(&self) -> Tensor<2> {
        match &self.down {
            Some(down) => down.val().matmul(self.weight.val()),
            None => self.weight.val(),
        }
    }

    /// The block-diagonal composite projection equal to feature-specific projections.
    pub fn from_token_linear(linear: &TokenLinear) -> Self {
        let [tokens, d_in, d_out] = linear.weight.val().dims();
        let blocks: Vec<f32> = linear.weight.val().into_data().try_to_vec::<f32>().unwrap_or_default();
        let mut full = vec![0f32; tokens * d_in * tokens * d_out];
        let width = tokens * d_out;
        for t in 0..tokens {
            for a in 0..d_in {
                for c in 0..d_out {
                    full[(t * d_in + a) * width + t * d_out + c] = blocks[(t * d_in + a) * d_out + c];
                }
            }
        }
        let device = linear.weight.device();
        CompositeProjection {
            down: None,
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(full, [tokens * d_in, width]), &device)),
            bias: Param::from_tensor(linear.bias.val().reshape([width])),
            d_out,
        }
    }

    /// Rank-`rank` factorisation `Ŵ ≈ D U` from the truncated SVD, singular values split
    /// evenly between the factors; the bias is kept. At full rank it reproduces `Ŵ`.
    pub fn low_rank(&self, rank: usize) -> Self {
        let full = self.full_weight();
        let [rows, cols] = full.dims();
        let device = full.device();
        let values: Vec<f32> = full.into_data().try_to_vec::<f32>().unwrap_or_default();
        let svd = truncated_svd(&values, rows, cols, rank);
        let (left, right) = svd.balanced_factors();
        let tensor = |data: Vec<f32>, shape: [usize; 2]| Param::from_tensor(Tensor::from_data(TensorData::new(data, shape), &device));
        CompositeProjection {
            down: Some(tensor(left, [rows, svd.rank])),
            weight: tensor(right, [svd.rank, cols]),
            bias: Param::from_tensor(self.bias.val()),
            d_out: self.d_out,
        }
    }

    /// The inner width: the rank when factorised, else `L·d_in`.
    pub fn rank(&self) -> usize {
        self.weight.val().dims()[0]
    }
}
