//! The training loop shared by every ranking model: shuffled mini-batches, dense Adam/AdamW on
//! the burn parameters, row-wise sparse updates on the EmbeddingStore, validation AUC after
//! each epoch and early stopping that restores the best epoch. The loss is an [`Objective`]:
//! BCE on the hard labels by default ([`HardLabels`]); distillation plugs in its own. With the
//! plain BCE, LR, MLP, DCN-v2, Hiformer and AutoInt step on compiled forward and backward passes
//! (`CompiledTrainer`, same gradients) unless `[train] engine = "burn"`.

use burn::module::{ModuleVisitor, Param};
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::optim::decay::WeightDecayConfig;
use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::relu;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::{Batch, Dataset, Progress, Split};
use recforge_models::layers::seed_dropout;
use recforge_models::ranking::{CompiledTrainer, DenseRule};
use recforge_models::{EmbeddedBatch, EmbeddingStore, ModelConfig, ModelInput, Ranker, RankingModel, TableSpec};
use serde::{Deserialize, Serialize};

use crate::config::{DenseOptimizer, TrainConfig, TrainEngine};
use crate::evaluate::{EvalMetrics, evaluate};
use crate::step_loop::{Learner, LoopConfig, LoopError, run_loop};

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
        if layout.sparse.is_empty() && !config.trains_without_tokens() {
            return Err(TrainError::NoSparseFeatures { model: config.name() });
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
        let model = config.init(&layout, device);
        // burn draws a parameter's initial values when it is first read; read them all now, in
        // the module's order, so a seed gives the same weights whichever engine trains them
        // (a forward pass and compiled training read them in different orders).
        model.visit(&mut Materialise);
        Ok(TrainedModel { config: config.clone(), model, store })
    }

    /// Dense parameters plus embedding weights.
    pub fn num_parameters(&self) -> usize {
        self.model.num_params() + self.store.num_parameters()
    }
}

/// Reads every float parameter (forcing burn's lazy initialisation).
struct Materialise;

impl ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
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

    /// Whether the loss is the plain BCE of the model's logits against the hard labels, with
    /// no parameters of its own: then compiled training may compute it instead of burn.
    fn is_plain_bce(&self) -> bool {
        false
    }
}

/// The plain objective: BCE of the model's logits against the hard labels.
#[derive(Debug, Clone, Copy, Default)]
pub struct HardLabels;

impl Objective for HardLabels {
    fn loss(&mut self, model: &Ranker, input: &ModelInput, batch: &Batch, device: &Device) -> Result<Tensor<1>, ObjectiveError> {
        let labels = Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.len]), device);
        Ok(bce_with_logits(model.forward(input), labels))
    }

    fn is_plain_bce(&self) -> bool {
        true
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
        "the data has no categorical, multi-categorical or sequence feature; {model} embeds at least \
         one (add e.g. the user or item id to the schema, or train lr, mlp or dcn_v2, which read \
         numeric features alone)"
    )]
    NoSparseFeatures { model: &'static str },
    #[error("the split left {train} training and {valid} validation rows; adjust [split] in the schema")]
    EmptySplit { train: usize, valid: usize },
    #[error(
        "the training loss became {loss} at epoch {epoch}, step {step}; lower [train] lr or the sparse \
         optimizer's lr, or check the data for extreme numeric values"
    )]
    Diverged { loss: f64, epoch: usize, step: usize },
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
    #[error(transparent)]
    Loop(LoopError),
}

/// Train `config` on `split.train`, early-stopping on AUC over `split.valid`.
pub fn fit(
    config: &ModelConfig,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    progress: &dyn Progress,
) -> Result<FitOutcome, TrainError> {
    fit_with(config, train, data, split, progress, &mut HardLabels)
}

/// A ranking model in training, as [`run_loop`] drives it: one step of `objective` per batch,
/// validation AUC on `valid` after each epoch, a copy of the best epoch's model.
pub struct RankingLearner<'a> {
    /// The model being trained (taken out during a step: the dense optimizer consumes it).
    current: Option<TrainedModel>,
    optimizer: ModuleOptimizer,
    /// The compiled path, when it applies ([`TrainEngine::Auto`], a plain-BCE objective and a
    /// model it covers); its weights are written back into `current` before anyone reads it.
    compiled: Option<CompiledTrainer>,
    /// Whether `compiled` holds steps `current.model` has not seen yet.
    stale: bool,
    objective: &'a mut dyn Objective,
    data: &'a Dataset,
    /// Validation rows (none: no validation, as in [`fine_tune`]).
    valid: &'a [usize],
    lr: f64,
    eval_batch_size: usize,
    device: Device,
    /// Validation metrics per epoch, in order.
    validated: Vec<EvalMetrics>,
    best: Option<TrainedModel>,
}

impl<'a> RankingLearner<'a> {
    /// Train `start` (built on the autodiff `device`) under `objective` with `train`'s optimizer
    /// and learning rate; validate on `valid` (empty: no validation).
    pub fn new(
        start: TrainedModel,
        device: Device,
        train: &TrainConfig,
        data: &'a Dataset,
        valid: &'a [usize],
        objective: &'a mut dyn Objective,
    ) -> Self {
        let compiled = (train.engine == TrainEngine::Auto && objective.is_plain_bce())
            .then(|| CompiledTrainer::new(&start.model, dense_rule(train)))
            .flatten();
        RankingLearner {
            current: Some(start),
            optimizer: dense_optimizer(train),
            compiled,
            stale: false,
            objective,
            data,
            valid,
            lr: train.lr,
            eval_batch_size: train.eval_batch_size,
            device,
            validated: Vec::new(),
            best: None,
        }
    }

    /// The model as it is now (not the best epoch's).
    pub fn into_current(mut self) -> TrainedModel {
        self.sync();
        self.current.take().expect("the model is only taken out during a step")
    }

    /// Whether the steps run on compiled training rather than burn's autodiff.
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// The model as it is now, with the compiled path's weights written back.
    fn model(&mut self) -> &TrainedModel {
        self.sync();
        self.current.as_ref().expect("the model is only taken out during a step")
    }

    fn sync(&mut self) {
        if !self.stale {
            return;
        }
        if let (Some(compiled), Some(current)) = (&self.compiled, self.current.as_mut()) {
            // write_back maps the module by value; a clone of a burn module shares its tensors.
            current.model = compiled.write_back(current.model.clone());
        }
        self.stale = false;
    }
}

impl Learner for RankingLearner<'_> {
    type Error = TrainError;

    fn step(&mut self, rows: &[usize]) -> Result<f64, TrainError> {
        if let (Some(compiled), Some(current)) = (self.compiled.as_mut(), self.current.as_mut()) {
            let batch = self.data.batch(rows);
            self.stale = true;
            return Ok(compiled.step(&mut current.store, &batch, self.lr));
        }
        let current = self.current.take().expect("the model is only taken out during a step");
        let (next, loss, _) =
            train_step(current, &mut self.optimizer, &mut *self.objective, self.data, rows, self.lr, &self.device)?;
        self.current = Some(next);
        Ok(loss)
    }

    fn validate(&mut self, epoch: usize) -> Result<Option<f64>, TrainError> {
        if self.valid.is_empty() {
            return Ok(None);
        }
        let (data, valid_rows, eval_batch_size) = (self.data, self.valid, self.eval_batch_size);
        let current = self.model();
        let valid = evaluate(&current.model.valid(), &current.store, data, valid_rows, eval_batch_size, &Device::default());
        tracing::info!(
            epoch,
            valid_auc = format!("{:.4}", valid.auc),
            valid_logloss = format!("{:.4}", valid.logloss),
            "epoch done"
        );
        let score = valid.auc;
        self.validated.push(valid);
        Ok(Some(score))
    }

    fn keep_best(&mut self, _epoch: usize) {
        self.sync();
        self.best = self.current.clone();
    }
}

impl From<LoopError> for TrainError {
    fn from(error: LoopError) -> Self {
        match error {
            LoopError::Diverged { loss, epoch, step } => TrainError::Diverged { loss, epoch, step },
            LoopError::NoRows => TrainError::EmptySplit { train: 0, valid: 0 },
            interrupted @ LoopError::Interrupted { .. } => TrainError::Loop(interrupted),
        }
    }
}

/// [`fit`] minimising `objective` instead of the hard-label BCE; early stopping still uses the
/// served model's validation AUC against the hard labels.
pub fn fit_with(
    config: &ModelConfig,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    progress: &dyn Progress,
    objective: &mut dyn Objective,
) -> Result<FitOutcome, TrainError> {
    if split.train.is_empty() || split.valid.is_empty() {
        return Err(TrainError::EmptySplit { train: split.train.len(), valid: split.valid.len() });
    }
    let device = Device::default().autodiff();
    let start = TrainedModel::init(config, train, data, &device)?;
    let mut learner = RankingLearner::new(start, device, train, data, &split.valid, objective);
    tracing::info!(model = config.name(), engine = if learner.is_compiled() { "compiled" } else { "burn autodiff" }, "training");
    let loop_config = LoopConfig::new(config.name(), train.epochs, train.batch_size, train.seed).with_patience(train.patience);
    let outcome = run_loop(&mut learner, &split.train, &loop_config, progress)?;
    let history: Vec<EpochRecord> = outcome
        .epochs
        .iter()
        .zip(&learner.validated)
        .map(|(stats, valid)| EpochRecord {
            epoch: stats.epoch,
            train_loss: stats.train_loss,
            valid: valid.clone(),
            seconds: stats.seconds,
            train_examples_per_sec: stats.examples_per_sec(),
        })
        .collect();
    let best = match learner.best.take() {
        Some(best) => best,
        None => learner.current.take().expect("the model is back after the loop"),
    };
    Ok(FitOutcome {
        trained: TrainedModel { model: best.model.valid(), ..best },
        history,
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        train_examples_per_sec: outcome.examples_per_sec(),
    })
}

/// The dense optimizer `train` asks for, with fresh state.
pub(crate) fn dense_optimizer(train: &TrainConfig) -> ModuleOptimizer {
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

/// The compiled path's rule for `train`'s dense optimizer.
fn dense_rule(train: &TrainConfig) -> DenseRule {
    let weight_decay = train.weight_decay as f32;
    match train.optimizer {
        DenseOptimizer::Adam => DenseRule::Adam { weight_decay },
        DenseOptimizer::AdamW => DenseRule::AdamW { weight_decay },
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

/// Continue training `start` for `steps` mini-batches of `split.train` with fresh optimizer
/// state (e.g. after a low-rank factorisation); returns the non-autodiff model. The rows are
/// shuffled once with `train.seed` and taken in that order, epoch after epoch.
pub fn fine_tune(
    start: TrainedModel,
    train: &TrainConfig,
    data: &Dataset,
    split: &Split,
    steps: usize,
    progress: &dyn Progress,
) -> Result<TrainedModel, TrainError> {
    if split.train.is_empty() {
        return Err(TrainError::EmptySplit { train: 0, valid: split.valid.len() });
    }
    let device = Device::default().autodiff();
    seed_dropout(train.seed);
    // A module built on the autodiff device tracks gradients; load the weights into it.
    let current = TrainedModel { model: start.config.init(&data.layout(), &device).load_record(start.model.into_record()), ..start };
    let mut order = split.train.clone();
    order.shuffle(&mut StdRng::seed_from_u64(train.seed));
    let batch_size = train.batch_size.max(1);
    let mut objective = HardLabels;
    let mut learner = RankingLearner::new(current, device, train, data, &[], &mut objective);
    let epochs = steps.div_ceil(order.len().div_ceil(batch_size)).max(1);
    let loop_config = LoopConfig { shuffle: false, ..LoopConfig::new("fine-tune", epochs, batch_size, train.seed).with_max_steps(steps) };
    if steps > 0 {
        run_loop(&mut learner, &order, &loop_config, progress)?;
    }
    let current = learner.into_current();
    Ok(TrainedModel { model: current.model.valid(), ..current })
}
