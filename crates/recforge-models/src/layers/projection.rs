//! Token-wise linear maps over `[batch, tokens, width]`: one weight shared by every token
//! ([`TokenProjection::Shared`], a plain `Linear`) or one weight per token
//! ([`TokenLinear`], the feature-specific projections of heterogeneous attention).

use burn::module::Param;
use burn::nn::{Initializer, Linear};
use burn::prelude::*;

/// One `d_input → d_output` affine map per token: weight `[L, d_input, d_output]`, bias `[L, d_output]`.
#[derive(Module, Debug)]
pub struct TokenLinear {
    pub weight: Param<Tensor<3>>,
    pub bias: Param<Tensor<2>>,
}

impl TokenLinear {
    /// Kaiming-uniform weights (as burn's `Linear`: ±1/√d_input) and zero biases.
    pub fn new(tokens: usize, d_input: usize, d_output: usize, device: &Device) -> Self {
        let uniform = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false };
        TokenLinear {
            weight: uniform.init_with([tokens, d_input, d_output], Some(d_input), Some(d_output), device),
            bias: Initializer::Zeros.init([tokens, d_output], device),
        }
    }

    /// `x [B, n, d_input]` holding tokens `first..first + n` → `[B, n, d_output]`.
    pub fn forward(&self, x: Tensor<3>, first: usize) -> Tensor<3> {
        let [_, n, _] = x.dims();
        let weight = self.weight.val().narrow(0, first, n);
        let bias = self.bias.val().narrow(0, first, n);
        x.swap_dims(0, 1).matmul(weight).swap_dims(0, 1) + bias.unsqueeze_dim::<3>(0)
    }
}

/// A token-wise projection, shared or feature-specific.
#[derive(Module, Debug)]
pub enum TokenProjection {
    Shared(Linear),
    PerToken(TokenLinear),
}

impl TokenProjection {
    /// `x [B, n, d_input]` holding tokens `first..first + n` → `[B, n, d_output]`.
    pub fn forward(&self, x: Tensor<3>, first: usize) -> Tensor<3> {
        match self {
            TokenProjection::Shared(linear) => linear.forward(x),
            TokenProjection::PerToken(linear) => linear.forward(x, first),
        }
    }
}
