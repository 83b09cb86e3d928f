//! DCN-v2's cross network (Wang et al., arXiv 2008.13535): explicit bounded-degree feature
//! crosses, `x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l`, with `W_l` full (`D × D`) or low-rank
//! (`U_l V_lᵀ`, rank r, the paper's cost-saving "mixture"-free variant).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

/// Sizes of a [`CrossNet`].
#[derive(Config, Debug)]
pub struct CrossNetConfig {
    /// Width of `x_0`.
    pub d_input: usize,
    /// Number of cross layers.
    pub layers: usize,
    /// Factorise each `W_l` with this rank (None = full matrices).
    #[config(default = "None")]
    pub low_rank: Option<usize>,
}

/// One cross layer: `W x + b`, optionally through a rank-r bottleneck.
#[derive(Module, Debug)]
pub struct CrossLayer {
    /// `D → r` without bias, present when low-rank.
    down: Option<Linear>,
    /// `D (or r) → D`.
    up: Linear,
}

/// A stack of cross layers.
#[derive(Module, Debug)]
pub struct CrossNet {
    layers: Vec<CrossLayer>,
}

impl CrossNetConfig {
    pub fn init(&self, device: &Device) -> CrossNet {
        let layer = || match self.low_rank {
            Some(rank) => CrossLayer {
                down: Some(LinearConfig::new(self.d_input, rank).with_bias(false).init(device)),
                up: LinearConfig::new(rank, self.d_input).init(device),
            },
            None => CrossLayer { down: None, up: LinearConfig::new(self.d_input, self.d_input).init(device) },
        };
        CrossNet { layers: (0..self.layers).map(|_| layer()).collect() }
    }
}

impl CrossNet {
    /// The layers' weights, compiled for inference.
    pub(crate) fn compiled(&self) -> Vec<crate::ranking::compiled::Cross> {
        use crate::ranking::compiled::{Cross, Dense};
        self.layers.iter().map(|l| Cross { down: l.down.as_ref().map(Dense::of), up: Dense::of(&l.up) }).collect()
    }

    /// `x_0 [B, D]` → `[B, D]`.
    pub fn forward(&self, x0: Tensor<2>) -> Tensor<2> {
        let mut x = x0.clone();
        for layer in &self.layers {
            let inner = match &layer.down {
                Some(down) => down.forward(x.clone()),
                None => x.clone(),
            };
            x = x0.clone() * layer.up.forward(inner) + x;
        }
        x
    }
}
