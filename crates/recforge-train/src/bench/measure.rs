//! recforge's side of a side-by-side benchmark: timed training steps (the trainer's own
//! [`RankingLearner`] step: dense Adam on the burn parameters, the EmbeddingStore's row-wise
//! optimizer on the tables), inference throughput
//! over the benchmark rows and batch-1 latency — the same three figures the PyTorch reference
//! reports.

use std::time::Instant;

use burn::prelude::*;
use recforge_data::Dataset;
use recforge_models::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::evaluate::predict;
use crate::latency::serving_latency;
use crate::step_loop::Learner;
use crate::trainer::{HardLabels, RankingLearner, TrainError, TrainedModel};

/// What one implementation measured in one round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Training examples per second over the timed steps (after warm-up).
    pub train_examples_per_sec: f64,
    /// Scoring examples per second over all benchmark rows, in training-sized batches.
    pub inference_examples_per_sec: f64,
    /// Median milliseconds to score one example (gather, forward, sigmoid; [`serving_latency`]).
    pub latency_batch1_ms: f64,
}

/// How long each part of the benchmark runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub batch_size: usize,
    /// Untimed steps first (allocator and thread-pool warm-up).
    pub warmup_steps: usize,
    pub steps: usize,
    /// Single-example scorings whose median is the batch-1 latency.
    pub latency_samples: usize,
}

impl Workload {
    /// Rows the benchmark data must hold: one batch per (warm-up or timed) step.
    pub fn rows(&self) -> usize {
        (self.warmup_steps + self.steps) * self.batch_size
    }
}

/// Train `model` on consecutive batches of `data` and measure; `data` holds
/// [`Workload::rows`] rows.
pub fn measure_recforge(
    model: &ModelConfig,
    train: &TrainConfig,
    data: &Dataset,
    work: &Workload,
) -> Result<Throughput, TrainError> {
    let device = Device::default().autodiff();
    let start = TrainedModel::init(model, train, data, &device)?;
    let mut objective = HardLabels;
    let mut learner = RankingLearner::new(start, device, train, data, &[], &mut objective);
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut started = Instant::now();
    for (step, batch_rows) in rows.chunks(work.batch_size).enumerate() {
        if step == work.warmup_steps {
            started = Instant::now();
        }
        learner.step(batch_rows)?;
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let trained = learner.into_current();

    let plain = Device::default();
    let serving = trained.model.valid();
    predict(&serving, &trained.store, data, &rows[..work.batch_size.min(rows.len())], work.batch_size, &plain);
    let started = Instant::now();
    predict(&serving, &trained.store, data, &rows, work.batch_size, &plain);
    let inference_seconds = started.elapsed().as_secs_f64();

    let latency = serving_latency(&serving, &trained.store, data, &rows, 1, work.latency_samples, &plain);
    Ok(Throughput {
        train_examples_per_sec: (work.steps * work.batch_size) as f64 / train_seconds.max(1e-9),
        inference_examples_per_sec: rows.len() as f64 / inference_seconds.max(1e-9),
        latency_batch1_ms: latency.p50_ms,
    })
}

/// Median of `values` (NaN when empty); sorts in place.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
