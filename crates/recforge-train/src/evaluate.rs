//! Scoring a trained model over rows of a dataset and computing the ranking metrics.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use recforge_data::Dataset;
use recforge_models::{EmbeddedBatch, EmbeddingStore, Ranker, RankingModel};
use serde::{Deserialize, Serialize};

use crate::metrics;

/// Ranking metrics of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// ROC AUC (NaN when the rows hold one class only).
    pub auc: f64,
    pub logloss: f64,
    pub accuracy: f64,
    pub examples: usize,
    pub label_rate: f64,
}

impl EvalMetrics {
    /// Metrics of predicted click probabilities against labels.
    pub fn of(probabilities: &[f32], labels: &[f32]) -> Self {
        EvalMetrics {
            auc: metrics::auc(probabilities, labels).unwrap_or(f64::NAN),
            logloss: metrics::logloss(probabilities, labels),
            accuracy: metrics::accuracy(probabilities, labels),
            examples: labels.len(),
            label_rate: labels.iter().map(|&y| y as f64).sum::<f64>() / labels.len().max(1) as f64,
        }
    }
}

/// Click probabilities for `rows`, in order. `model` should be the non-autodiff (`valid()`)
/// copy; the store is only read.
pub fn predict(
    model: &Ranker,
    store: &EmbeddingStore,
    data: &Dataset,
    rows: &[usize],
    batch_size: usize,
    device: &Device,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch_size.max(1)) {
        let batch = data.batch(chunk);
        let embedded = EmbeddedBatch::new(store, &batch, device, false);
        let probabilities = sigmoid(model.forward(&embedded.input));
        out.extend(probabilities.into_data().try_to_vec::<f32>().unwrap_or_default());
    }
    out
}

/// The labels of `rows`, in order.
pub fn labels_of(data: &Dataset, rows: &[usize]) -> Vec<f32> {
    rows.iter().map(|&r| data.labels[r]).collect()
}

/// AUC, logloss and accuracy of the model on `rows`.
pub fn evaluate(
    model: &Ranker,
    store: &EmbeddingStore,
    data: &Dataset,
    rows: &[usize],
    batch_size: usize,
    device: &Device,
) -> EvalMetrics {
    EvalMetrics::of(&predict(model, store, data, rows, batch_size, device), &labels_of(data, rows))
}
