//! DCN-v2 (Wang et al., arXiv 2008.13535): a cross network of explicit feature crosses
//! `x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l` beside (parallel) or before (stacked) a deep MLP,
//! with optional low-rank `W_l = U_l V_lᵀ`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::layers::{CrossNet, CrossNetConfig, Mlp, MlpConfig, ModelInput, flat_features};
use crate::ranking::RankingModel;

/// How the cross network and the deep network are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DcnStructure {
    /// `MLP(Cross(x_0))`.
    Stacked,
    /// `w·Cross(x_0) + MLP(x_0)`: one linear head over both towers.
    Parallel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DcnV2Config {
    pub embedding_dim: usize,
    pub cross_layers: usize,
    /// Rank of each cross matrix (None = full).
    pub low_rank: Option<usize>,
    pub structure: DcnStructure,
    pub hidden: Vec<usize>,
    pub dropout: f64,
}

impl Default for DcnV2Config {
    fn default() -> Self {
        DcnV2Config {
            embedding_dim: 16,
            cross_layers: 3,
            low_rank: None,
            structure: DcnStructure::Parallel,
            hidden: vec![256, 128],
            dropout: 0.0,
        }
    }
}

#[derive(Module, Debug)]
pub struct DcnV2 {
    cross: CrossNet,
    deep: Mlp,
    /// The cross tower's share of the logit (parallel structure only).
    cross_head: Option<Linear>,
}

impl DcnV2Config {
    pub fn init(&self, num_sparse: usize, num_dense: usize, device: &Device) -> DcnV2 {
        let d_input = num_sparse * self.embedding_dim + num_dense;
        DcnV2 {
            cross: CrossNetConfig::new(d_input, self.cross_layers).with_low_rank(self.low_rank).init(device),
            deep: MlpConfig::new(d_input, self.hidden.clone(), 1).with_dropout(self.dropout).init(device),
            cross_head: (self.structure == DcnStructure::Parallel).then(|| LinearConfig::new(d_input, 1).init(device)),
        }
    }
}

impl DcnV2 {
    /// Logits `[batch]` and the shared bottom the output layers read: parallel
    /// `[batch, d_input + last hidden]` (cross output beside the deep tower's last hidden
    /// layer), stacked `[batch, last hidden]`.
    pub fn forward_with_hidden(&self, input: &ModelInput) -> (Tensor<1>, Tensor<2>) {
        let x0 = flat_features(input);
        let size = x0.dims()[0];
        match &self.cross_head {
            Some(head) => {
                let crossed = self.cross.forward(x0.clone());
                let deep = self.deep.forward_hidden(x0);
                let logits = head.forward(crossed.clone()) + self.deep.head(deep.clone());
                (logits.reshape([size]), Tensor::cat(vec![crossed, deep], 1))
            }
            None => {
                let hidden = self.deep.forward_hidden(self.cross.forward(x0));
                (self.deep.head(hidden.clone()).reshape([size]), hidden)
            }
        }
    }
}

impl DcnV2 {
    /// Logits `[batch]` and the intermediate layers first to last: the cross network's output
    /// `[batch, d_input]`, then each deep hidden layer `[batch, width_l]`.
    pub fn forward_layers(&self, input: &ModelInput) -> (Tensor<1>, Vec<Tensor<2>>) {
        let x0 = flat_features(input);
        let size = x0.dims()[0];
        let crossed = self.cross.forward(x0.clone());
        let deep_input = if self.cross_head.is_some() { x0 } else { crossed.clone() };
        let deep = self.deep.forward_layers(deep_input.clone());
        let last = deep.last().cloned().unwrap_or(deep_input);
        let logits = match &self.cross_head {
            Some(head) => head.forward(crossed.clone()) + self.deep.head(last),
            None => self.deep.head(last),
        };
        let mut layers = vec![crossed];
        layers.extend(deep);
        (logits.reshape([size]), layers)
    }

    /// The output layer(s) over the shared bottom of [`DcnV2::forward_with_hidden`].
    pub fn head_from_hidden(&self, hidden: Tensor<2>) -> Tensor<1> {
        let [size, width] = hidden.dims();
        match &self.cross_head {
            Some(head) => {
                let d_cross = head.weight.val().dims()[0];
                let crossed = hidden.clone().narrow(1, 0, d_cross);
                let deep = hidden.narrow(1, d_cross, width - d_cross);
                (head.forward(crossed) + self.deep.head(deep)).reshape([size])
            }
            None => self.deep.head(hidden).reshape([size]),
        }
    }
}

impl DcnV2 {
    /// Whether dropout is off (compiled training has none).
    pub(crate) fn without_dropout(&self) -> bool {
        self.deep.without_dropout()
    }

    pub(crate) fn compiled(&self) -> crate::ranking::compiled::Net {
        use crate::ranking::compiled::{Dense, Net};
        Net::DcnV2 { cross: self.cross.compiled(), deep: self.deep.compiled(), cross_head: self.cross_head.as_ref().map(Dense::of) }
    }
}

impl RankingModel for DcnV2 {
    fn forward(&self, input: &ModelInput) -> Tensor<1> {
        self.forward_with_hidden(input).0
    }
}
