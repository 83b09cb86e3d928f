//! SASRec — "Self-Attentive Sequential Recommendation" (Kang & McAuley, arXiv 1808.09781).
//! Item embeddings ×√d + learned positions → blocks of causal self-attention and a ReLU
//! feed-forward (pre-LayerNorm, residuals, dropout) → one vector per position; the score of item
//! i after position t is ⟨F_t, E_i⟩ with the same item embedding E (shared input/output).
//!
//! Histories are left-padded with the padding id 0 so the most recent item is always the last
//! position; position t attends to positions ≤ t that are not padding, so future items never
//! change earlier outputs (tested). Training (in `recforge-train`) uses a full-catalogue softmax
//! over next items at every position instead of the paper's one sampled negative per position.

use burn::module::Param;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::layers::Dropout;

/// Sizes of a [`SasRec`]; defaults are the paper's ML-1M settings except `max_len` (200 there).
#[derive(Config, Debug)]
pub struct SasRecConfig {
    /// Item vocabulary rows, including the padding row 0.
    pub num_items: usize,
    /// Embedding width d.
    #[config(default = 50)]
    pub dim: usize,
    /// Longest history read (most recent items kept).
    #[config(default = 50)]
    pub max_len: usize,
    /// Self-attention blocks.
    #[config(default = 2)]
    pub blocks: usize,
    #[config(default = 1)]
    pub heads: usize,
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// One attention block: x + Attn(LN(x)), then y + FFN(LN(y)).
#[derive(Module, Debug)]
pub struct SasRecBlock {
    norm_attention: LayerNorm,
    attention: MultiHeadAttention,
    norm_ffn: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    dropout: Dropout,
}

/// The SASRec model.
#[derive(Module, Debug)]
pub struct SasRec {
    /// Item embeddings `[num_items, dim]`, used for the input and to score every item.
    pub items: Embedding,
    /// Learned position embeddings `[max_len, dim]`.
    pub positions: Param<Tensor<2>>,
    blocks: Vec<SasRecBlock>,
    final_norm: LayerNorm,
    dropout: Dropout,
    max_len: usize,
}

impl SasRecConfig {
    pub fn init(&self, device: &Device) -> SasRec {
        let dim = self.dim.max(1);
        let heads = if dim % self.heads.max(1) == 0 { self.heads.max(1) } else { 1 };
        let block = || SasRecBlock {
            norm_attention: LayerNormConfig::new(dim).init(device),
            attention: MultiHeadAttentionConfig::new(dim, heads).with_dropout(0.0).init(device),
            norm_ffn: LayerNormConfig::new(dim).init(device),
            ffn_in: LinearConfig::new(dim, dim).init(device),
            ffn_out: LinearConfig::new(dim, dim).init(device),
            dropout: Dropout::new(self.dropout),
        };
        SasRec {
            // Std 1/√d: ×√d at the input gives unit-scale tokens, and output logits ⟨F_t, E_i⟩
            // start near unit scale. burn's default N(0, 1) made them ~√d times larger: the
            // first epoch's loss was 40 nats, and Adam needed tens of epochs to shrink the table.
            items: EmbeddingConfig::new(self.num_items.max(1), dim)
                .with_initializer(Initializer::Normal { mean: 0.0, std: 1.0 / (dim as f64).sqrt() })
                .init(device),
            positions: Param::from_tensor(Tensor::random(
                [self.max_len.max(1), dim],
                burn::tensor::Distribution::Normal(0.0, 0.02),
                device,
            )),
            blocks: (0..self.blocks).map(|_| block()).collect(),
            final_norm: LayerNormConfig::new(dim).init(device),
            dropout: Dropout::new(self.dropout),
            max_len: self.max_len.max(1),
        }
    }
}

/// Left-padded item ids `[batch, len]`, their padding mask (`true` = padding) and the combined
/// causal + padding attention mask `[batch, len, len]` (`true` = query may not see that key).
#[derive(Debug, Clone)]
pub struct SequenceBatch {
    pub ids: Tensor<2, Int>,
    pub padding: Tensor<2, Bool>,
    pub attention_mask: Tensor<3, Bool>,
}

impl SequenceBatch {
    /// Pads each sequence on the left with 0 to a common length `len` (the longest sequence, at
    /// most `max_len`; longer sequences keep their most recent items).
    pub fn new(sequences: &[&[u32]], max_len: usize, device: &Device) -> Self {
        let len = sequences.iter().map(|s| s.len().min(max_len)).max().unwrap_or(0).max(1);
        Self::with_len(sequences, len, device)
    }

    /// As [`SequenceBatch::new`] with an exact length `len`.
    pub fn with_len(sequences: &[&[u32]], len: usize, device: &Device) -> Self {
        let batch = sequences.len();
        let mut ids = Vec::with_capacity(batch * len);
        let mut padding = Vec::with_capacity(batch * len);
        let mut mask = Vec::with_capacity(batch * len * len);
        for sequence in sequences {
            let kept = &sequence[sequence.len().saturating_sub(len)..];
            let pad = len - kept.len();
            ids.extend(std::iter::repeat_n(0i64, pad));
            ids.extend(kept.iter().map(|&i| i64::from(i)));
            padding.extend((0..len).map(|p| p < pad));
            for query in 0..len {
                // A padding query keeps its own key so its softmax row is never empty.
                mask.extend((0..len).map(|key| key > query || (key < pad && key != query)));
            }
        }
        SequenceBatch {
            ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, len]), device),
            padding: Tensor::<2, Bool>::from_data(TensorData::new(padding, [batch, len]), device),
            attention_mask: Tensor::<3, Bool>::from_data(TensorData::new(mask, [batch, len, len]), device),
        }
    }
}

impl SasRecBlock {
    /// `[batch, len, dim]` → `[batch, len, dim]`.
    fn forward(&self, x: Tensor<3>, mask: Tensor<3, Bool>) -> Tensor<3> {
        let normed = self.norm_attention.forward(x.clone());
        let attended = self.attention.forward(MhaInput::self_attn(normed).mask_attn(mask)).context;
        let x = x + self.dropout.forward(attended);
        let hidden = self.dropout.forward(relu(self.ffn_in.forward(self.norm_ffn.forward(x.clone()))));
        x + self.dropout.forward(self.ffn_out.forward(hidden))
    }
}

impl SasRec {
    /// The longest history the model reads.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Hidden states `[batch, len, dim]` (`len ≤ max_len`), one per position (padding positions
    /// are zeros). Position
    /// embeddings count from the end: the last item always gets the last position row.
    pub fn forward(&self, batch: &SequenceBatch) -> Tensor<3> {
        let [rows, len] = batch.ids.dims();
        let [_, dim] = self.items.weight.dims();
        let keep = batch.padding.clone().bool_not().float().unsqueeze_dim::<3>(2); // [rows, len, 1]
        let positions = self.positions.val().slice([self.max_len - len..self.max_len, 0..dim]).unsqueeze_dim::<3>(0);
        let embedded = self.items.forward(batch.ids.clone()) * (dim as f64).sqrt() + positions;
        let mut x = self.dropout.forward(embedded) * keep.clone();
        for block in &self.blocks {
            x = block.forward(x, batch.attention_mask.clone()) * keep.clone();
        }
        debug_assert_eq!(x.dims(), [rows, len, dim]);
        self.final_norm.forward(x) * keep
    }

    /// Hidden state after each sequence's last position, `[batch, dim]`.
    pub fn last_hidden(&self, batch: &SequenceBatch) -> Tensor<2> {
        let hidden = self.forward(batch);
        let [rows, len, dim] = hidden.dims();
        hidden.slice([0..rows, len - 1..len, 0..dim]).reshape([rows, dim])
    }

    /// Scores `[batch, num_items]` of every item as the next one after each sequence.
    pub fn score_all(&self, batch: &SequenceBatch) -> Tensor<2> {
        self.last_hidden(batch).matmul(self.items.weight.val().transpose())
    }
}
