//! The two towers together: [`RetrievalModel`] embeds items with the [`ItemTower`] and
//! histories with the [`UserTower`] into one space where scores are inner products (max over
//! the user's H vectors).

use burn::prelude::*;

use crate::retrieval::item_tower::{ItemFeatureTable, ItemTower, ItemTowerConfig};
use crate::retrieval::loss::max_over_heads;
use crate::retrieval::mur::{HistoryBatch, UserTower, UserTowerConfig};

/// Both towers' sizes; serialised into a run directory as `retrieval_model.json`.
#[derive(Config, Debug)]
pub struct RetrievalModelConfig {
    pub item: ItemTowerConfig,
    pub user: UserTowerConfig,
}

/// Item tower + user tower.
#[derive(Module, Debug)]
pub struct RetrievalModel {
    pub item: ItemTower,
    pub user: UserTower,
}

impl RetrievalModelConfig {
    /// The official code's defaults (d = 8, 2 attention layers × 4 heads, dropout 0.2) with
    /// `interests` user vectors; `hidden` is the item tower's MLP.
    pub fn new_default(table: &ItemFeatureTable, interests: usize, dim: usize) -> Self {
        RetrievalModelConfig {
            item: ItemTowerConfig::new(table.num_items, table.cardinalities.clone(), dim, vec![4 * dim], dim),
            user: UserTowerConfig::new(table.num_items).with_embedding_dim(dim).with_d_model(dim).with_interests(interests),
        }
    }

    pub fn init(&self, device: &Device) -> RetrievalModel {
        RetrievalModel { item: self.item.init(device), user: self.user.init(device) }
    }
}

impl RetrievalModel {
    /// Item vectors for every id `0..num_items`, `[num_items, d]` (row 0 is padding), computed
    /// in chunks.
    pub fn all_item_vectors(&self, table: &ItemFeatureTable, device: &Device) -> Tensor<2> {
        const CHUNK: usize = 4096;
        let ids: Vec<u32> = (0..table.num_items as u32).collect();
        let parts: Vec<Tensor<2>> = ids.chunks(CHUNK).map(|c| self.item.forward(c, table, device)).collect();
        Tensor::cat(parts, 0)
    }

    /// Scores `[batch, num_items]` of every item for each history.
    pub fn score_all(&self, histories: &HistoryBatch, item_vectors: Tensor<2>) -> Tensor<2> {
        max_over_heads(self.user.forward(histories), item_vectors)
    }
}
