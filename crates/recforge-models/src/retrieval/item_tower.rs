//! The item tower: item id plus item-side features (genres, year, title words for
//! MovieLens), each embedded (bags mean-pooled), concatenated and sent through an MLP.
//!
//! Tables here are small (thousands of rows × 8), so they are ordinary burn parameters
//! trained by dense Adam rather than rows of the `EmbeddingStore`. Every table starts from
//! N(0, 1/d) ([`embedding_table`]), not burn's default N(0, 1): with unit-variance rows the
//! towers' first logits are √d times too large and the softmax saturates before it learns.

use burn::nn::{Embedding, EmbeddingConfig, Initializer};
use burn::prelude::*;
use recforge_data::ItemSideFeatures;

use crate::layers::{Mlp, MlpConfig};

/// Longest bag kept per item-side feature (longer title word lists are truncated).
pub const MAX_BAG: usize = 8;

/// Sizes of an [`ItemTower`].
#[derive(Config, Debug)]
pub struct ItemTowerConfig {
    /// Item vocabulary rows (including the OOV/padding row 0).
    pub num_items: usize,
    /// Vocabulary rows of each item-side feature, in [`ItemFeatureTable`] order.
    pub side_cardinalities: Vec<usize>,
    /// Width of every embedding table.
    pub embedding_dim: usize,
    /// Hidden widths of the MLP.
    pub hidden: Vec<usize>,
    /// Output width: the retrieval space dimension.
    pub d_out: usize,
}

/// Item id and side-feature embeddings → MLP.
#[derive(Module, Debug)]
pub struct ItemTower {
    pub id: Embedding,
    pub side: Vec<Embedding>,
    mlp: Mlp,
}

/// An embedding table of `rows` × `dim` (at least one row) drawn from N(0, 1/dim), so a row's
/// squared norm starts near 1 whatever the width.
pub fn embedding_table(rows: usize, dim: usize, device: &Device) -> Embedding {
    EmbeddingConfig::new(rows.max(1), dim)
        .with_initializer(Initializer::Normal { mean: 0.0, std: 1.0 / (dim.max(1) as f64).sqrt() })
        .init(device)
}

impl ItemTowerConfig {
    pub fn init(&self, device: &Device) -> ItemTower {
        let table = |rows: usize| embedding_table(rows, self.embedding_dim, device);
        ItemTower {
            id: table(self.num_items),
            side: self.side_cardinalities.iter().map(|&rows| table(rows)).collect(),
            mlp: MlpConfig::new(self.embedding_dim * (1 + self.side_cardinalities.len()), self.hidden.clone(), self.d_out)
                .init(device),
        }
    }
}

/// Item-side feature ids of every item, padded to a fixed bag length, ready to gather.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemFeatureTable {
    pub num_items: usize,
    /// Per feature: `[num_items * MAX_BAG]` ids (0 = padding) and mean-pooling weights.
    features: Vec<(Vec<u32>, Vec<f32>)>,
    pub cardinalities: Vec<usize>,
}

impl ItemFeatureTable {
    pub fn new(side: &ItemSideFeatures, num_items: usize) -> Self {
        let mut features = Vec::new();
        let mut cardinalities = Vec::new();
        for feature in &side.features {
            let mut ids = vec![0u32; num_items * MAX_BAG];
            let mut weights = vec![0f32; num_items * MAX_BAG];
            for (item, values) in feature.values.iter().enumerate().take(num_items) {
                let n = values.len().min(MAX_BAG);
                for (slot, &value) in values.iter().take(n).enumerate() {
                    ids[item * MAX_BAG + slot] = value;
                    weights[item * MAX_BAG + slot] = 1.0 / n as f32;
                }
            }
            features.push((ids, weights));
            cardinalities.push(feature.cardinality);
        }
        ItemFeatureTable { num_items, features, cardinalities }
    }

    /// A table with no side features (the item tower then embeds the id alone).
    pub fn ids_only(num_items: usize) -> Self {
        ItemFeatureTable { num_items, features: Vec::new(), cardinalities: Vec::new() }
    }
}

impl ItemTower {
    /// Item vectors `[items.len(), d_out]`.
    pub fn forward(&self, items: &[u32], table: &ItemFeatureTable, device: &Device) -> Tensor<2> {
        let n = items.len();
        let ids = int2(items.iter().map(|&i| i as i64).collect(), [n, 1], device);
        let dim = self.id.weight.dims()[1];
        let mut parts = vec![self.id.forward(ids).reshape([n, dim])];
        for (embedding, (ids, weights)) in self.side.iter().zip(&table.features) {
            let mut bag_ids = Vec::with_capacity(n * MAX_BAG);
            let mut bag_weights = Vec::with_capacity(n * MAX_BAG);
            for &item in items {
                let at = item as usize * MAX_BAG;
                bag_ids.extend(ids[at..at + MAX_BAG].iter().map(|&v| v as i64));
                bag_weights.extend_from_slice(&weights[at..at + MAX_BAG]);
            }
            let embedded = embedding.forward(int2(bag_ids, [n, MAX_BAG], device));
            let weights = Tensor::<3>::from_data(TensorData::new(bag_weights, [n, MAX_BAG, 1]), device);
            parts.push((embedded * weights).sum_dim(1).reshape([n, dim]));
        }
        self.mlp.forward(Tensor::cat(parts, 1))
    }
}

pub(crate) fn int2(values: Vec<i64>, shape: [usize; 2], device: &Device) -> Tensor<2, Int> {
    Tensor::<2, Int>::from_data(TensorData::new(values, shape), device)
}
