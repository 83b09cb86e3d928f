//! `recforge bench train-step`: the median time of one training step with the EmbeddingStore
//! (gradients for the touched rows only, row-wise sparse updates) against the same model with
//! dense embedding tables, where the backward pass and the optimiser touch every weight. Like
//! is compared with like: each row uses one update rule for the embedding tables on both sides
//! (Adagrad, then Adam — lazy on the sparse side, as in TorchRec and TF's LazyAdam), and the
//! dense layers use the config's dense optimiser on both sides. The sparse side is the
//! trainer's own [`RankingLearner`] step.

use std::time::Instant;

use burn::optim::{AdaGradConfig, AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::{Dataset, Progress, Task, TaskOptions};
use recforge_models::{DenseEmbeddingRanker, SparseOptimizer};
use serde::{Deserialize, Serialize};

use super::BenchError;
use crate::run::RunConfig;
use crate::step_loop::Learner;
use crate::trainer::{HardLabels, RankingLearner, TrainedModel, bce_with_logits, dense_optimizer};

/// Untimed steps before the timed ones.
const WARMUP_STEPS: usize = 3;

/// The step times of every update rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainStepReport {
    pub model: String,
    pub dataset: String,
    pub batch_size: usize,
    pub embedding_weights: usize,
    pub steps: usize,
    pub threads: usize,
    /// The dense layers' optimiser on both sides (the config's `[train] optimizer`).
    pub dense_layers_optimizer: String,
    pub rows: Vec<TrainStepRow>,
}

/// One update rule for the embedding tables, sparse against dense.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainStepRow {
    /// `adagrad` or `adam`.
    pub table_optimizer: String,
    /// The tables' learning rate on both sides.
    pub table_lr: f64,
    /// Median milliseconds per step with the EmbeddingStore.
    pub sparse_ms: f64,
    /// Median milliseconds per step with dense tables.
    pub dense_ms: f64,
}

impl TrainStepRow {
    /// How many times faster the sparse step is.
    pub fn speedup(&self) -> f64 {
        self.dense_ms / self.sparse_ms
    }
}

impl TrainStepReport {
    /// Examples per second at a median step time.
    pub fn examples_per_sec(&self, ms: f64) -> f64 {
        self.batch_size as f64 / ms * 1e3
    }

    /// The report as a heading and an aligned table, as `recforge bench train-step` prints it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "training step, {} on {} (batch {}, {} embedding weights, {} timed steps, {} threads; dense layers: {} on both sides)\n",
            self.model, self.dataset, self.batch_size, self.embedding_weights, self.steps, self.threads, self.dense_layers_optimizer
        );
        out += &format!("{:<10} {:>16} {:>14} {:>16} {:>14} {:>9}", "tables", "sparse median ms", "sparse ex/s", "dense median ms", "dense ex/s", "speed-up");
        for row in &self.rows {
            out += &format!(
                "\n{:<10} {:>16.2} {:>14.0} {:>16.2} {:>14.0} {:>8.2}x",
                row.table_optimizer,
                row.sparse_ms,
                self.examples_per_sec(row.sparse_ms),
                row.dense_ms,
                self.examples_per_sec(row.dense_ms),
                row.speedup()
            );
        }
        out
    }
}

/// Time `steps` steps (after [`WARMUP_STEPS`]) of the sparse and the dense variant under each
/// table update rule, on `config`'s data and model.
pub fn train_step_bench(config: &RunConfig, steps: usize, progress: &dyn Progress) -> Result<TrainStepReport, BenchError> {
    let dataset = Task::load(&config.data.schema, &TaskOptions::default(), progress)?.dataset;
    let device = Device::default().autodiff();
    let batches = sample_batches(&dataset, config.train.batch_size, steps + WARMUP_STEPS, config.train.seed);
    let table_lr = f64::from(config.train.sparse_optimizer.lr());
    // Each rule as the EmbeddingStore applies it and as burn applies it to dense tables.
    let rules: [(&str, SparseOptimizer, fn() -> ModuleOptimizer); 2] = [
        ("adagrad", SparseOptimizer::Adagrad { lr: table_lr as f32, initial_accumulator: 0.0, eps: 1e-8 }, || AdaGradConfig::new().init()),
        ("adam", SparseOptimizer::LazyAdam { lr: table_lr as f32, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, || AdamConfig::new().init()),
    ];
    let mut rows = Vec::with_capacity(rules.len());
    let mut embedding_weights = 0;
    for (name, rule, dense_rule) in rules {
        let mut train = config.train.clone();
        train.sparse_optimizer = rule;
        let sparse = TrainedModel::init(&config.model, &train, &dataset, &device)?;
        embedding_weights = sparse.store.num_parameters();
        let mut objective = HardLabels;
        let mut learner = RankingLearner::new(sparse, device.clone(), &train, &dataset, &[], &mut objective);
        let sparse_ms = time_steps(&batches, |rows| learner.step(rows).map(|_| ()))?;

        let fresh = TrainedModel::init(&config.model, &train, &dataset, &device)?;
        let mut dense = Some(DenseEmbeddingRanker::from_store(&fresh.store, fresh.model, &device));
        let mut table_optimizer = dense_rule();
        let mut layer_optimizer = dense_optimizer(&train);
        let dense_ms = time_steps(&batches, |rows| {
            let batch = dataset.batch(rows);
            let labels = Tensor::from_data(TensorData::new(batch.labels.clone(), [batch.len]), &device);
            let model = dense.take().expect("the dense model is put back after every step");
            let grads = bce_with_logits(model.forward(&batch, &device), labels).backward();
            dense = Some(model.step(grads, (&mut table_optimizer, table_lr), (&mut layer_optimizer, train.lr)));
            Ok(())
        })?;
        rows.push(TrainStepRow { table_optimizer: name.to_string(), table_lr, sparse_ms, dense_ms });
    }
    Ok(TrainStepReport {
        model: config.model.name().to_string(),
        dataset: dataset.meta.name.clone(),
        batch_size: config.train.batch_size,
        embedding_weights,
        steps,
        threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        dense_layers_optimizer: format!("{:?}", config.train.optimizer).to_lowercase(),
        rows,
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
