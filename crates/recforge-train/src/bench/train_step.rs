//! `recforge bench train-step`: the median time of one training step with the EmbeddingStore
//! (gradients for the touched rows only, row-wise sparse updates) against the same model with
//! dense embedding tables and dense Adam over every weight. The sparse side is the trainer's
//! own [`RankingLearner`] step.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::{Dataset, Progress, Task, TaskOptions};
use recforge_models::DenseEmbeddingRanker;
use serde::{Deserialize, Serialize};

use super::BenchError;
use crate::run::RunConfig;
use crate::step_loop::Learner;
use crate::trainer::{HardLabels, RankingLearner, TrainedModel, bce_with_logits};

/// Untimed steps before the timed ones.
const WARMUP_STEPS: usize = 3;

/// The two step times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainStepReport {
    pub model: String,
    pub dataset: String,
    pub batch_size: usize,
    pub embedding_weights: usize,
    pub steps: usize,
    pub threads: usize,
    /// Median milliseconds per step with the EmbeddingStore.
    pub sparse_ms: f64,
    /// Median milliseconds per step with dense tables and dense Adam.
    pub dense_ms: f64,
}

impl TrainStepReport {
    pub fn sparse_examples_per_sec(&self) -> f64 {
        self.batch_size as f64 / self.sparse_ms * 1e3
    }

    pub fn dense_examples_per_sec(&self) -> f64 {
        self.batch_size as f64 / self.dense_ms * 1e3
    }

    /// How many times faster the sparse step is.
    pub fn speedup(&self) -> f64 {
        self.dense_ms / self.sparse_ms
    }
}

/// Time `steps` steps (after [`WARMUP_STEPS`]) of both variants on `config`'s data and model.
pub fn train_step_bench(config: &RunConfig, steps: usize, progress: &dyn Progress) -> Result<TrainStepReport, BenchError> {
    let dataset = Task::load(&config.data.schema, &TaskOptions::default(), progress)?.dataset;
    let device = Device::default().autodiff();
    let batches = sample_batches(&dataset, config.train.batch_size, steps + WARMUP_STEPS, config.train.seed);

    let sparse = TrainedModel::init(&config.model, &config.train, &dataset, &device)?;
    let mut objective = HardLabels;
    let mut learner = RankingLearner::new(sparse, device.clone(), &config.train, &dataset, &[], &mut objective);
    let sparse_ms = time_steps(&batches, |rows| learner.step(rows).map(|_| ()))?;

    let fresh = TrainedModel::init(&config.model, &config.train, &dataset, &device)?;
    let embedding_weights = fresh.store.num_parameters();
    let mut dense = DenseEmbeddingRanker::from_store(&fresh.store, fresh.model, &device);
    let mut optimizer = AdamConfig::new().init();
    let dense_ms = time_steps(&batches, |rows| {
        let batch = dataset.batch(rows);
        let labels = Tensor::from_data(TensorData::new(batch.labels.clone(), [batch.len]), &device);
        let loss = bce_with_logits(dense.forward(&batch, &device), labels);
        let grads = GradientsParams::from_grads(loss.backward(), &dense);
        dense = optimizer.step(config.train.lr, dense.clone(), grads);
        Ok(())
    })?;
    Ok(TrainStepReport {
        model: config.model.name().to_string(),
        dataset: dataset.meta.name.clone(),
        batch_size: config.train.batch_size,
        embedding_weights,
        steps,
        threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        sparse_ms,
        dense_ms,
    })
}

/// `count` full batches of shuffled rows.
fn sample_batches(data: &Dataset, batch_size: usize, count: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rows: Vec<usize> = (0..data.len()).collect();
    rows.shuffle(&mut StdRng::seed_from_u64(seed));
    rows.chunks(batch_size.max(1)).filter(|c| c.len() == batch_size).take(count).map(<[usize]>::to_vec).collect()
}

/// Median milliseconds of `step` over the batches after the warm-up steps.
fn time_steps(batches: &[Vec<usize>], mut step: impl FnMut(&[usize]) -> Result<(), crate::trainer::TrainError>) -> Result<f64, BenchError> {
    let mut times = Vec::with_capacity(batches.len());
    for (i, rows) in batches.iter().enumerate() {
        let started = Instant::now();
        step(rows)?;
        if i >= WARMUP_STEPS {
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(super::median(&mut times))
}
