//! The `[train]` table of a training config: optimizers, batch sizes, early stopping, seed.

use recforge_models::SparseOptimizer;
use serde::{Deserialize, Serialize};

/// Optimizer for the dense (burn) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DenseOptimizer {
    #[default]
    Adam,
    #[serde(rename = "adamw")]
    AdamW,
}

/// How to train; every field has a default, so `[train]` may be empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Upper bound on passes over the training split.
    pub epochs: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    /// Dense optimizer and its learning rate / weight decay (decoupled for AdamW, L2 for Adam).
    pub optimizer: DenseOptimizer,
    pub lr: f64,
    pub weight_decay: f64,
    /// Row-wise optimizer of the embedding tables.
    pub sparse_optimizer: SparseOptimizer,
    /// Cap on rows per embedding table; larger vocabularies are hashed into the cap.
    pub max_embedding_rows: Option<usize>,
    /// Stop after this many epochs without a better validation AUC (0 = never stop early).
    pub patience: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 2048,
            eval_batch_size: 8192,
            optimizer: DenseOptimizer::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            sparse_optimizer: SparseOptimizer::default(),
            max_embedding_rows: None,
            patience: 2,
            seed: 42,
        }
    }
}
