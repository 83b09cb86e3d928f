//! A multi-layer perceptron block: Linear → ReLU → Dropout per hidden layer, then a linear head.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::layers::dropout::Dropout;

/// Sizes of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input width.
    pub d_input: usize,
    /// Hidden layer widths, in order (may be empty: then the block is one linear layer).
    pub hidden: Vec<usize>,
    /// Output width (1 for a logit).
    pub d_output: usize,
    /// Dropout after each hidden activation.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// Hidden layers plus an output projection.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    output: Linear,
    dropout: Dropout,
}

impl MlpConfig {
    pub fn init(&self, device: &Device) -> Mlp {
        let mut width = self.d_input;
        let mut hidden = Vec::with_capacity(self.hidden.len());
        for &next in &self.hidden {
            hidden.push(LinearConfig::new(width, next).init(device));
            width = next;
        }
        Mlp {
            hidden,
            output: LinearConfig::new(width, self.d_output).init(device),
            dropout: Dropout::new(self.dropout),
        }
    }
}

impl Mlp {
    /// `[batch, d_input]` → `[batch, d_output]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.head(self.forward_hidden(x))
    }

    /// The hidden layers only: `[batch, d_input]` → `[batch, last hidden width]` (the input
    /// itself when there is no hidden layer). A distillation hook: heads can share this bottom.
    pub fn forward_hidden(&self, mut x: Tensor<2>) -> Tensor<2> {
        for layer in &self.hidden {
            x = self.dropout.forward(relu(layer.forward(x)));
        }
        x
    }

    /// Every hidden layer's activation, in order: `[batch, d_input]` → one `[batch, width_l]`
    /// per hidden layer (empty when there is none). A layer-wise ensembling (LEVI) hook.
    pub fn forward_layers(&self, mut x: Tensor<2>) -> Vec<Tensor<2>> {
        let mut out = Vec::with_capacity(self.hidden.len());
        for layer in &self.hidden {
            x = self.dropout.forward(relu(layer.forward(x)));
            out.push(x.clone());
        }
        out
    }

    /// The output projection alone: `[batch, last hidden width]` → `[batch, d_output]`.
    /// The weights as a compiled tower (inference only; dropout is off there).
    pub(crate) fn compiled(&self) -> crate::ranking::compiled::Tower {
        use crate::ranking::compiled::{Dense, Tower};
        Tower { hidden: self.hidden.iter().map(Dense::of).collect(), output: Dense::of(&self.output) }
    }

    /// Whether dropout is off (compiled training has no dropout).
    pub(crate) fn without_dropout(&self) -> bool {
        self.dropout.is_identity()
    }

    pub fn head(&self, hidden: Tensor<2>) -> Tensor<2> {
        self.output.forward(hidden)
    }
}
