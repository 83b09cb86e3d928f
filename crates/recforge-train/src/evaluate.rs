//! Scoring a trained model over rows of a dataset and computing the ranking metrics.

use std::borrow::Cow;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use recforge_data::{Batch, Dataset};
use recforge_models::ranking::CompiledRanker;
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

/// A trained ranker ready to score batches: LR, MLP, DCN-v2, Hiformer and AutoInt compiled
/// for inference ([`CompiledRanker`]: one pass per block of examples, no tensor ops), the
/// Transformers on burn. Build it once per model and reuse it; `model` should be the
/// non-autodiff (`valid()`) copy.
pub struct Predictor<'a> {
    model: &'a Ranker,
    compiled: Option<Cow<'a, CompiledRanker>>,
}

impl<'a> Predictor<'a> {
    /// Compiles `model` when its kind allows.
    pub fn new(model: &'a Ranker) -> Self {
        Predictor { model, compiled: CompiledRanker::compile(model).map(Cow::Owned) }
    }

    /// With `compiled` from an earlier [`CompiledRanker::compile`] of `model` (a loaded
    /// model folder compiles once, not per request).
    pub fn precompiled(model: &'a Ranker, compiled: Option<&'a CompiledRanker>) -> Self {
        Predictor { model, compiled: compiled.map(Cow::Borrowed) }
    }

    /// Click probabilities of every example of `batch`, in order.
    pub fn score_batch(&self, store: &EmbeddingStore, batch: &Batch, device: &Device) -> Vec<f32> {
        match &self.compiled {
            Some(compiled) => compiled.predict(store, batch),
            None => {
                let embedded = EmbeddedBatch::new(store, batch, device, false);
                sigmoid(self.model.forward(&embedded.input)).into_data().try_to_vec::<f32>().unwrap_or_default()
            }
        }
    }

    /// Click probabilities for `rows` of `data`, in order, `batch_size` examples at a time.
    pub fn predict(&self, store: &EmbeddingStore, data: &Dataset, rows: &[usize], batch_size: usize, device: &Device) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(batch_size.max(1)) {
            out.extend(self.score_batch(store, &data.batch(chunk), device));
        }
        out
    }
}

/// Click probabilities for `rows`, in order (a [`Predictor`] built for this one call).
/// `model` should be the non-autodiff (`valid()`) copy; the store is only read.
pub fn predict(
    model: &Ranker,
    store: &EmbeddingStore,
    data: &Dataset,
    rows: &[usize],
    batch_size: usize,
    device: &Device,
) -> Vec<f32> {
    Predictor::new(model).predict(store, data, rows, batch_size, device)
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
