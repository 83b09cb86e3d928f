//! Retrieval training settings; the defaults are the official code's (PAPERS.md §9) except
//! the width d (64, not 8) and the learning rate (3e-3, not 1e-3), which validation on ML-1M
//! chose (docs/results/retrieval.md, "Converged towers"): at d = 8 neither tower got clearly
//! past popularity; at d = 32 both do, and d = 64 led d = 32 at every equal epoch.

use serde::{Deserialize, Serialize};

/// How the towers are trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalTrainConfig {
    pub batch_size: usize,
    /// Adam learning rate (calibration uses lr/10).
    pub lr: f64,
    /// Maximum epochs of the first training (IDW rounds and calibration use `stage_epochs`).
    pub epochs: usize,
    /// Maximum epochs of each IDW retraining and of calibration.
    pub stage_epochs: usize,
    /// Epochs without validation improvement before stopping.
    pub patience: usize,
    /// Softmax temperature τ.
    pub temperature: f64,
    /// History length kept (most recent items).
    pub seq_len: usize,
    /// k-core threshold for users and items.
    pub min_interactions: usize,
    /// Per epoch, at most this many targets per user, drawn afresh each epoch (None = all).
    pub max_examples_per_user: Option<usize>,
    /// Subtract log q_j (the target's in-batch sampling probability) from the logits.
    pub logq: bool,
    /// Leave a row's own item out of its in-batch negatives when another row has the same
    /// target (accidental hits).
    pub mask_duplicates: bool,
    /// Weight of the head-disagreement loss (0 = off).
    pub disagreement: f64,
    /// Embedding and user/item vector width d.
    pub dim: usize,
    /// Fraction of items (by training frequency) that count as head.
    pub head_fraction: f64,
    pub seed: u64,
}

impl Default for RetrievalTrainConfig {
    fn default() -> Self {
        RetrievalTrainConfig {
            batch_size: 256,
            lr: 3e-3,
            epochs: 20,
            stage_epochs: 5,
            patience: 2,
            temperature: 1.0,
            seq_len: 30,
            min_interactions: 5,
            max_examples_per_user: None,
            logq: true,
            mask_duplicates: true,
            disagreement: 0.0,
            dim: 64,
            head_fraction: 0.2,
            seed: 42,
        }
    }
}
