//! Scoring a trained model over rows of a dataset and computing the ranking metrics.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use recforge_data::Dataset;
use recforge_models::{EmbeddedBatch, RankingModel};
use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::trainer::TrainedModel;

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

/// Click probabilities for `rows`, in order.
pub fn predict(trained: &TrainedModel, data: &Dataset, rows: &[usize], batch_size: usize, device: &Device) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch_size.max(1)) {
        let batch = data.batch(chunk);
        let embedded = EmbeddedBatch::new(&trained.store, &batch, device, false);
        let probabilities = sigmoid(trained.model.forward(&embedded.input));
        out.extend(probabilities.into_data().try_to_vec::<f32>().unwrap_or_default());
    }
    out
}

/// AUC, logloss and accuracy of the model on `rows`.
pub fn evaluate(trained: &TrainedModel, data: &Dataset, rows: &[usize], batch_size: usize, device: &Device) -> EvalMetrics {
    let probabilities = predict(trained, data, rows, batch_size, device);
    let labels: Vec<f32> = rows.iter().map(|&r| data.labels[r]).collect();
    EvalMetrics {
        auc: metrics::auc(&probabilities, &labels).unwrap_or(f64::NAN),
        logloss: metrics::logloss(&probabilities, &labels),
        accuracy: metrics::accuracy(&probabilities, &labels),
        examples: rows.len(),
        label_rate: labels.iter().map(|&y| y as f64).sum::<f64>() / labels.len().max(1) as f64,
    }
}
