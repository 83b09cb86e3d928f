//! Multi-interest user tower (MUR) of "Density Weighting for Multi-Interest Personalized
//! Recommendation" (arXiv 2308.01563): history item embeddings ×√d → dense to d → N
//! multi-head self-attention layers (ELU, residual) → H learned queries attend over the
//! sequence → H user vectors. With H = 1 it is the single-representation tower (SUR).

use burn::module::Param;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Embedding, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{elu, softmax};

use crate::layers::Dropout;
use crate::retrieval::item_tower::{embedding_table, int2};

/// Masked attention logits (a large negative number, not −∞, so softmax stays finite).
const MASKED: f32 = -1.0e9;

/// Sizes of a [`UserTower`]; the official code's defaults.
#[derive(Config, Debug)]
pub struct UserTowerConfig {
    /// Item vocabulary rows (including the padding row 0).
    pub num_items: usize,
    /// Width of the history item embeddings.
    #[config(default = 8)]
    pub embedding_dim: usize,
    /// Width of the attention layers and of each user vector.
    #[config(default = 8)]
    pub d_model: usize,
    #[config(default = 2)]
    pub attention_layers: usize,
    #[config(default = 4)]
    pub attention_heads: usize,
    /// Number of user vectors H (1 = SUR).
    #[config(default = 3)]
    pub interests: usize,
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// History → H user vectors.
#[derive(Module, Debug)]
pub struct UserTower {
    pub items: Embedding,
    input: Linear,
    attention: Vec<MultiHeadAttention>,
    /// Learned interest queries `[H, d_model]`.
    pub queries: Param<Tensor<2>>,
    dropout: Dropout,
}

impl UserTowerConfig {
    pub fn init(&self, device: &Device) -> UserTower {
        let heads = if self.d_model % self.attention_heads == 0 { self.attention_heads } else { 1 };
        UserTower {
            // N(0, 1/d): the forward pass scales by √d, so the attention sees unit-variance inputs.
            items: embedding_table(self.num_items, self.embedding_dim, device),
            input: LinearConfig::new(self.embedding_dim, self.d_model).init(device),
            attention: (0..self.attention_layers)
                .map(|_| MultiHeadAttentionConfig::new(self.d_model, heads).with_dropout(0.0).init(device))
                .collect(),
            queries: Param::from_tensor(Tensor::random(
                [self.interests.max(1), self.d_model],
                Distribution::Normal(0.0, 1.0 / (self.d_model as f64).sqrt()),
                device,
            )),
            dropout: Dropout::new(self.dropout),
        }
    }
}

/// Left-padded history ids `[batch, len]` and the padding mask (`true` = padding).
#[derive(Debug, Clone)]
pub struct HistoryBatch {
    pub ids: Tensor<2, Int>,
    pub padding: Tensor<2, Bool>,
}

impl HistoryBatch {
    /// Pads each history on the left with id 0 to the longest (at most `max_len`, keeping
    /// the most recent items). An empty history gets one padding slot left unmasked, so its
    /// user vectors are those of the padding row rather than NaN.
    pub fn new(histories: &[&[u32]], max_len: usize, device: &Device) -> Self {
        let len = histories.iter().map(|h| h.len().min(max_len)).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(histories.len() * len);
        let mut padding = Vec::with_capacity(histories.len() * len);
        for history in histories {
            let kept = &history[history.len().saturating_sub(max_len)..];
            let pad = len - kept.len();
            for slot in 0..pad {
                ids.push(0);
                padding.push(!(kept.is_empty() && slot == pad - 1));
            }
            ids.extend(kept.iter().map(|&i| i as i64));
            padding.extend(std::iter::repeat_n(false, kept.len()));
        }
        let shape = [histories.len(), len];
        HistoryBatch {
            ids: int2(ids, shape, device),
            padding: Tensor::<2, Bool>::from_data(TensorData::new(padding, shape), device),
        }
    }
}

impl UserTower {
    /// User vectors `[batch, H, d_model]` for a batch of histories.
    pub fn forward(&self, history: &HistoryBatch) -> Tensor<3> {
        let [batch, _] = history.ids.dims();
        let [_, dim] = self.items.weight.dims();
        let embedded = self.items.forward(history.ids.clone()) * (dim as f64).sqrt();
        let mut x = self.dropout.forward(self.input.forward(embedded));
        for layer in &self.attention {
            let context = layer.forward(MhaInput::self_attn(x.clone()).mask_pad(history.padding.clone())).context;
            x = x + self.dropout.forward(elu(context, 1.0));
        }
        let [heads, d_model] = self.queries.dims();
        // Interest attention: [batch, len, d] × [d, H] → [batch, H, len], masked softmax over len.
        let queries = self.queries.val().transpose().unsqueeze_dim::<3>(0).repeat_dim(0, batch);
        let logits = x.clone().matmul(queries).swap_dims(1, 2) / (d_model as f64).sqrt();
        let mask = history.padding.clone().unsqueeze_dim::<3>(1).repeat_dim(1, heads);
        let weights = softmax(logits.mask_fill(mask, MASKED), 2);
        let users = weights.matmul(x);
        debug_assert_eq!(users.dims(), [batch, heads, d_model]);
        users
    }
}
