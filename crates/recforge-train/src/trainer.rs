//! The training loop shared by every ranking model: shuffled mini-batches, dense Adam/AdamW on
//! the burn parameters, row-wise sparse updates on the EmbeddingStore, validation AUC after
//! each epoch and early stopping that restores the best epoch. The loss is an [`Objective`]:
//! BCE on the hard labels by default ([`HardLabels`]); distillation plugs in its own.

use std::time::Instant;

use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::optim::decay::WeightDecayConfig;
use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::relu;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::{Batch, Dataset, Split};
use recforge_models::layers::seed_dropout;
use recforge_models::{EmbeddedBatch, EmbeddingStore, ModelConfig, ModelInput, Ranker, RankingModel, TableSpec};
use serde::{Deserialize, Serialize};

use crate::config::{DenseOptimizer, TrainConfig};
use crate::evaluate::{EvalMetrics, evaluate};

/// A model ready to score: its config, dense weights and embedding tables.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    pub config: ModelConfig,
    pub model: Ranker,
    pub store: EmbeddingStore,
}

impl TrainedModel {
    /// A freshly initialised model for `data`'s feature layout.
    pub fn init(config: &ModelConfig, train: &TrainConfig, data: &Dataset, device: &Device) -> Result<Self, TrainError> {
        let layout = data.layout();
        if layout.sparse.is_empty() {
            return Err(TrainError::NoSparseFeatures);
        }
        device.seed(train.seed);
        seed_dropout(train.seed);
        let dim = config.embedding_dim();
        let specs = layout
            .sparse
            .iter()
            .map(|f| match train.max_embedding_rows {
                Some(cap) => TableSpec::capped(&f.name, f.cardinality, dim, cap),
                None => TableSpec::exact(&f.name, f.cardinality, dim),
            })
            .collect();
        let store = EmbeddingStore::new(specs, train.sparse_optimizer, config.embedding_init_scale(), train.seed);
        Ok(TrainedModel { config: config.clone(), model: config.init(&layout, device), store })
    }

    /// Dense parameters plus embedding weights.
    pub fn num_parameters(&self) -> usize {
        self.model.num_params() + self.store.num_parameters()
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub valid: EvalMetrics,
    pub seconds: f64,
    pub train_examples_per_sec: f64,
}

/// The result of [`fit`]: the best model and the curve that led to it.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    pub trained: TrainedModel,
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// Training examples per second over all epochs (optimisation only, no validation).
    pub train_examples_per_sec: f64,
}

/// Mean binary cross-entropy of `logits` against `labels`, in the stable form
/// `max(x, 0) − x·y + log(1 + e^{−|x|})`.
pub fn bce_with_logits(logits: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    let stable = relu(logits.clone()) - logits.clone() * labels + logits.abs().neg().exp().log1p();
    stable.mean()
}

/// What a training step minimises. An objective may own trainable modules of its own (e.g. an
/// auxiliary head beside the served model); it updates them in [`Objective::update`] from the
/// step's gradients, before the trainer updates the model.
pub trait Objective {
    /// The mean loss `[1]` of `model` on one embedded batch (`batch` gives labels and ids).
    /// A configuration the objective cannot work with (missing teacher labels, a head that
    /// was not built) is an [`ObjectiveError`], not a poisoned loss.
    fn loss(&mut self, model: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError>;

    /// Take the gradients of the objective's own parameters out of `grads` and step them.
    fn update(&mut self, _grads: &mut Gradients, _lr: f64) {}
}

/// The plain objective: BCE of the model's logits against the hard labels.
#[derive(Debug, Clone, Copy, Default)]
pub struct HardLabels;

impl Objective for HardLabels {
    fn loss(&mut self, model: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError> {
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.len]), device);
        Ok(bce_with_logits(model.forward(input), labels))
    }
}

/// An objective was asked to work without what it needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectiveError {
    /// The batch has no teacher label for some examples the objective must distil.
    #[error("{objective}: {missing} examples of the batch have no teacher label; label the whole training window first")]
    MissingTeacherLabels { objective: &'static str, missing: usize },
    /// The configuration asks for something this objective was not built with.
    #[error("{objective}: {reason}")]
    Misconfigured { objective: &'static str, reason: String },
}

/// Why training could not start or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "the data has no categorical, multi-categorical or sequence feature; ranking models embed \
         at least one (add e.g. the user or item id to the schema)"
    )]
    NoSparseFeatures,
    #[error("the split left {train} training and {valid} validation rows; adjust [split] in the schema")]
    EmptySplit { train: usize, valid: usize },
    #[error(
        "the training loss became {loss} at epoch {epoch}, step {step}; lower [train] lr or the sparse \
         optimizer's lr, or check the data for extreme numeric values"
    )]
    Diverged { loss: f64, epoch: usize, step: usize },
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
}

/// Train `config` on `split.train`, early-stopping on AUC over `split.valid`.
pub fn fit(
    config: &ModelConfig,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    show_progress: bool,
) -> Result<FitOutcome, TrainError> {
    fit_with(config, train, data, split, show_progress, &mut HardLabels)
}

/// [`fit`] minimising `objective` instead of the hard-label BCE; early stopping still uses the
/// served model's validation AUC against the hard labels.
pub fn fit_with(
    config: &ModelConfig,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    show_progress: bool,
    objective: &mut dyn Objective,
) -> Result<FitOutcome, TrainError> {
    if split.train.is_empty() || split.valid.is_empty() {
        return Err(TrainError::EmptySplit { train: split.train.len(), valid: split.valid.len() });
    }
    let device = Device::default().autodiff();
    let eval_device = Device::default();
    let mut current = TrainedModel::init(config, train, data, &device)?;
    let mut optimizer = dense_optimizer(train);
    let mut rng = StdRng::seed_from_u64(train.seed);
    let mut order = split.train.clone();
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut best: Option<(f64, usize, TrainedModel)> = None;
    let mut stopped_early = false;
    let (mut total_examples, mut total_seconds) = (0usize, 0f64);

    for epoch in 1..=train.epochs {
        order.shuffle(&mut rng);
        let bar = progress_bar(order.len(), epoch, train.epochs, show_progress);
        let started = Instant::now();
        let (mut loss_sum, mut loss_examples) = (0f64, 0usize);
        for (step, rows) in order.chunks(train.batch_size.max(1)).enumerate() {
            let (next, loss_value, examples) =
                train_step(current, &mut optimizer, objective, data, rows, train.lr, &device)?;
            current = next;
            if !loss_value.is_finite() {
                bar.abandon();
                return Err(TrainError::Diverged { loss: loss_value, epoch, step: step + 1 });
            }
            loss_sum += loss_value * examples as f64;
            loss_examples += examples;
            bar.inc(examples as u64);
            bar.set_message(format!("loss {:.4}", loss_sum / loss_examples as f64));
        }
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        total_examples += loss_examples;
        total_seconds += seconds;

        let valid = evaluate(&current.model.valid(), &current.store, data, &split.valid, train.eval_batch_size, &eval_device);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / loss_examples.max(1) as f64,
            valid,
            seconds,
            train_examples_per_sec: loss_examples as f64 / seconds.max(1e-9),
        };
        tracing::info!(
            epoch,
            train_loss = format!("{:.4}", record.train_loss),
            valid_auc = format!("{:.4}", record.valid.auc),
            valid_logloss = format!("{:.4}", record.valid.logloss),
            examples_per_sec = format!("{:.0}", record.train_examples_per_sec),
            "epoch done"
        );
        let score = record.valid.auc;
        history.push(record);
        let improved = best.as_ref().is_none_or(|(b, _, _)| score > *b);
        if improved {
            best = Some((score, epoch, current.clone()));
        } else if train.patience > 0 && best.as_ref().is_some_and(|(_, e, _)| epoch - e >= train.patience) {
            stopped_early = epoch < train.epochs;
            break;
        }
    }

    let (best_epoch, best_model) = match best {
        Some((_, epoch, model)) => (epoch, model),
        None => (0, current),
    };
    let trained = TrainedModel { config: best_model.config, model: best_model.model.valid(), store: best_model.store };
    Ok(FitOutcome {
        trained,
        history,
        best_epoch,
        stopped_early,
        train_examples_per_sec: total_examples as f64 / total_seconds.max(1e-9),
    })
}

/// The dense optimizer `train` asks for, with fresh state.
fn dense_optimizer(train: &TrainConfig) -> ModuleOptimizer {
    match train.optimizer {
        DenseOptimizer::Adam => {
            let mut c = AdamConfig::new();
            if train.weight_decay > 0.0 {
                c = c.with_weight_decay(Some(WeightDecayConfig::new(train.weight_decay as f32)));
            }
            c.init()
        }
        DenseOptimizer::AdamW => AdamWConfig::new().with_weight_decay(train.weight_decay as f32).init(),
    }
}

/// One optimisation step on `rows` (dense optimizer on the model, row-wise updates on the
/// store); returns the updated model, the batch's mean loss and its size. A non-finite loss
/// is returned without applying any update.
fn train_step(
    mut current: TrainedModel,
    optimizer: &mut ModuleOptimizer,
    objective: &mut dyn Objective,
    data: &Dataset,
    rows: &[usize],
    lr: f64,
    device: &Device,
) -> Result<(TrainedModel, f64, usize), ObjectiveError> {
    let batch = data.batch(rows);
    let embedded = EmbeddedBatch::new(&current.store, &batch, device, true);
    let loss = objective.loss(&current.model, &embedded.input, &batch, device)?;
    let mut grads = loss.backward();
    let loss_value = loss.into_scalar::<f32>() as f64;
    if !loss_value.is_finite() {
        return Ok((current, loss_value, batch.len));
    }
    embedded.apply_gradients(&mut current.store, &grads);
    objective.update(&mut grads, lr);
    let grads = GradientsParams::from_grads(grads, &current.model);
    current.model = optimizer.step(lr, current.model, grads);
    Ok((current, loss_value, batch.len))
}

/// Continue training `start` for `steps` shuffled mini-batches of `split.train` with fresh
/// optimizer state (e.g. after a low-rank factorisation); returns the non-autodiff model.
pub fn fine_tune(
    start: TrainedModel,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    steps: usize,
    show_progress: bool,
) -> Result<TrainedModel, TrainError> {
    if split.train.is_empty() {
        return Err(TrainError::EmptySplit { train: 0, valid: split.valid.len() });
    }
    let device = Device::default().autodiff();
    seed_dropout(train.seed);
    // A module built on the autodiff device tracks gradients; load the weights into it.
    let mut current = TrainedModel {
        model: start.config.init(&data.layout(), &device).load_record(start.model.into_record()),
        ..start
    };
    let mut optimizer = dense_optimizer(train);
    let mut rng = StdRng::seed_from_u64(train.seed);
    let mut order = split.train.clone();
    order.shuffle(&mut rng);
    let batch_size = train.batch_size.max(1);
    let bar = progress_bar(steps * batch_size, 1, 1, show_progress);
    for step in 0..steps {
        let start = (step * batch_size) % order.len();
        let end = (start + batch_size).min(order.len());
        let (next, loss, examples) =
            train_step(current, &mut optimizer, &mut HardLabels, data, &order[start..end], train.lr, &device)?;
        current = next;
        if !loss.is_finite() {
            bar.abandon();
            return Err(TrainError::Diverged { loss, epoch: 1, step: step + 1 });
        }
        bar.inc(examples as u64);
        bar.set_message(format!("loss {loss:.4}"));
    }
    bar.finish_and_clear();
    Ok(TrainedModel { model: current.model.valid(), ..current })
}

fn progress_bar(len: usize, epoch: usize, epochs: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template(
        "epoch {prefix} [{bar:30}] {pos}/{len} ex · {per_sec} · ETA {eta} · {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}
