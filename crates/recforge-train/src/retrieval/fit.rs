//! One training stage of a two-tower retrieval model, as a [`Learner`] of the one step loop
//! ([`crate::run_loop`]): shuffled mini-batches of (history, target) pairs, in-batch softmax
//! with logQ correction, accidental hits (duplicate in-batch targets) removed and per-example
//! weights, Adam on the user tower and (unless frozen) on
//! the item tower, validation after every epoch and early stopping that keeps the best model —
//! the starting model included, so a stage never returns something worse on its own criterion
//! than what it was given.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_data::{Example, Progress};
use recforge_models::retrieval::loss::{accidental_hits, disagreement, in_batch_softmax};
use recforge_models::retrieval::{HistoryBatch, RetrievalModel};
use serde::{Deserialize, Serialize};

use super::RetrievalError;
use super::config::RetrievalTrainConfig;
use super::data::RetrievalData;
use super::evaluate::{EvalSplit, HitRates, evaluate_model};
use crate::step_loop::{Learner, LoopConfig, run_loop};

/// The validation number a stage maximises (full-corpus ranking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// Overall HR@200 (calibration).
    Overall,
    /// Tail HR@200 (IDW rounds, as the paper).
    Tail,
    /// Overall NDCG@10 (the first training of every model, as SASRec's).
    Ndcg,
}

impl Selection {
    pub fn score(self, rates: &HitRates) -> f64 {
        match self {
            Selection::Overall => rates.get("overall", 200),
            Selection::Tail => rates.get("tail", 200),
            Selection::Ndcg => rates.ndcg_at(10),
        }
    }
}

/// What one stage does.
#[derive(Debug, Clone)]
pub struct Stage<'a> {
    /// Shown in logs and the history ("train", "idw-1", "calibrate", ...).
    pub name: String,
    /// Per item id, the weight of each training example with that target.
    pub example_weights: &'a [f32],
    pub lr: f64,
    pub max_epochs: usize,
    /// Train the user tower only (calibration).
    pub freeze_items: bool,
    pub selection: Selection,
    /// Seed of the stage's batch order and of its per-epoch target draws.
    pub seed: u64,
}

/// One epoch of one stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub stage: String,
    /// 0 is the starting model, before any step.
    pub epoch: usize,
    pub train_loss: f64,
    /// Full-corpus validation hit rates.
    pub valid: HitRates,
    pub seconds: f64,
    pub train_examples_per_sec: f64,
}

/// Training targets of an epoch: a user with at most `cap` positions keeps them all (fixed
/// slots); a user with more gets `cap` slots redrawn at random every epoch.
struct EpochTargets {
    /// Per slot, the fixed example, or the user whose slot is redrawn each epoch.
    slots: Vec<Slot>,
    /// This epoch's example of every slot.
    current: Vec<Example>,
    rng: StdRng,
}

enum Slot {
    Fixed(Example),
    Drawn { user: u32, history_len: usize },
}

impl EpochTargets {
    fn new(data: &RetrievalData, cap: Option<usize>, seed: u64) -> Self {
        let mut slots = Vec::new();
        for (user, history) in data.sequences.histories.iter().enumerate() {
            let positions = history.len().saturating_sub(3);
            match cap {
                Some(cap) if positions > cap => {
                    slots.extend((0..cap).map(|_| Slot::Drawn { user: user as u32, history_len: history.len() }));
                }
                _ => slots.extend((1..history.len().saturating_sub(2)).map(|p| Slot::Fixed(Example { user: user as u32, position: p as u32 }))),
            }
        }
        let mut targets = EpochTargets { slots, current: Vec::new(), rng: StdRng::seed_from_u64(seed) };
        targets.redraw();
        targets
    }

    fn redraw(&mut self) {
        let rng = &mut self.rng;
        self.current = self
            .slots
            .iter()
            .map(|slot| match *slot {
                Slot::Fixed(example) => example,
                Slot::Drawn { user, history_len } => Example { user, position: rng.random_range(1..history_len - 2) as u32 },
            })
            .collect();
    }
}

/// The stage's model, optimizers and data, as the step loop drives them.
struct StageLearner<'a> {
    model: Option<RetrievalModel>,
    best: RetrievalModel,
    best_score: f64,
    data: &'a RetrievalData,
    config: &'a RetrievalTrainConfig,
    stage: &'a Stage<'a>,
    targets: EpochTargets,
    user_optimizer: ModuleOptimizer,
    item_optimizer: ModuleOptimizer,
    device: Device,
    /// Validation hit rates after each epoch (index 0: the starting model).
    valid: Vec<HitRates>,
    last_score: f64,
}

impl StageLearner<'_> {
    fn validate_now(&self) -> HitRates {
        let model = self.model.as_ref().unwrap_or(&self.best);
        evaluate_model(&model.valid(), self.data, EvalSplit::Valid, self.config.seq_len, &Device::default()).full
    }
}

impl Learner for StageLearner<'_> {
    type Error = RetrievalError;

    fn step(&mut self, rows: &[usize]) -> Result<f64, RetrievalError> {
        let (data, config, stage, device) = (self.data, self.config, self.stage, &self.device);
        let Some(model) = self.model.take() else { return Err(RetrievalError::NoExamples) };
        let batch: Vec<Example> = rows.iter().map(|&r| self.targets.current[r]).collect();
        let contexts: Vec<&[u32]> = batch.iter().map(|&e| data.sequences.context(e, config.seq_len)).collect();
        let targets: Vec<u32> = batch.iter().map(|&e| data.sequences.target(e)).collect();
        let users = model.user.forward(&HistoryBatch::new(&contexts, config.seq_len, device));
        let mut items = model.item.forward(&targets, &data.items, device);
        if stage.freeze_items {
            items = items.detach();
        }
        let log_q: Vec<f32> = targets.iter().map(|&t| if config.logq { data.log_q[t as usize] } else { 0.0 }).collect();
        let weights: Vec<f32> = targets.iter().map(|&t| stage.example_weights[t as usize]).collect();
        let n = batch.len();
        let mask = config.mask_duplicates.then(|| accidental_hits(&targets, device));
        let mut loss = in_batch_softmax(
            users,
            items,
            Tensor::<1>::from_data(TensorData::new(log_q, [n]), device),
            Tensor::<1>::from_data(TensorData::new(weights, [n]), device),
            config.temperature,
            mask,
        );
        if config.disagreement > 0.0 {
            loss = loss + disagreement(model.user.queries.val()) * config.disagreement;
        }
        let mut grads = loss.backward();
        let value = loss.into_scalar::<f32>() as f64;
        if !value.is_finite() {
            self.model = Some(model);
            return Ok(value);
        }
        let RetrievalModel { item, user } = model;
        let user_grads = GradientsParams::from_module(&mut grads, &user);
        let user = self.user_optimizer.step(stage.lr, user, user_grads);
        let item = if stage.freeze_items {
            item
        } else {
            let item_grads = GradientsParams::from_module(&mut grads, &item);
            self.item_optimizer.step(stage.lr, item, item_grads)
        };
        self.model = Some(RetrievalModel { item, user });
        Ok(value)
    }

    fn validate(&mut self, epoch: usize) -> Result<Option<f64>, RetrievalError> {
        let valid = self.validate_now();
        let score = self.stage.selection.score(&valid);
        tracing::info!(
            stage = self.stage.name.as_str(),
            epoch,
            valid_ndcg10 = format!("{:.4}", valid.ndcg_at(10)),
            valid_hr50 = format!("{:.4}", valid.get("overall", 50)),
            valid_hr200 = format!("{:.4}", valid.get("overall", 200)),
            valid_tail_hr200 = format!("{:.4}", valid.get("tail", 200)),
            "epoch done"
        );
        self.valid.push(valid);
        self.last_score = score;
        // The next epoch trains on freshly drawn targets.
        self.targets.redraw();
        Ok(Some(score))
    }

    fn keep_best(&mut self, _epoch: usize) {
        // The starting model stays the best unless an epoch beats it.
        if self.last_score > self.best_score
            && let Some(model) = &self.model
        {
            self.best = model.clone();
            self.best_score = self.last_score;
        }
    }
}

/// Trains `model` (on an autodiff device) for one stage; returns the best model by the
/// stage's validation criterion (the starting model when no epoch beats it) and the epoch
/// logs (epoch 0: the starting model).
pub fn train_stage(
    model: RetrievalModel,
    data: &RetrievalData,
    config: &RetrievalTrainConfig,
    stage: &Stage,
    progress: &dyn Progress,
) -> Result<(RetrievalModel, Vec<EpochLog>), RetrievalError> {
    if data.sequences.train_examples().is_empty() {
        return Err(RetrievalError::NoExamples);
    }
    let device = model.user.queries.val().device();
    let targets = EpochTargets::new(data, config.max_examples_per_user, stage.seed);
    let rows: Vec<usize> = (0..targets.current.len()).collect();
    let mut learner = StageLearner {
        best: model.clone(),
        best_score: f64::NEG_INFINITY,
        model: Some(model),
        data,
        config,
        stage,
        targets,
        user_optimizer: AdamConfig::new().init(),
        item_optimizer: AdamConfig::new().init(),
        device,
        valid: Vec::new(),
        last_score: f64::NEG_INFINITY,
    };
    let start = learner.validate_now();
    learner.best_score = stage.selection.score(&start);
    learner.valid.push(start);
    let loop_config = LoopConfig::new(stage.name.clone(), stage.max_epochs, config.batch_size.max(2), stage.seed)
        .with_patience(config.patience.max(1));
    let outcome = run_loop(&mut learner, &rows, &loop_config, progress)?;
    let mut logs = vec![EpochLog {
        stage: stage.name.clone(),
        epoch: 0,
        train_loss: f64::NAN,
        valid: learner.valid[0].clone(),
        seconds: 0.0,
        train_examples_per_sec: 0.0,
    }];
    for (stats, valid) in outcome.epochs.iter().zip(&learner.valid[1..]) {
        logs.push(EpochLog {
            stage: stage.name.clone(),
            epoch: stats.epoch,
            train_loss: stats.train_loss,
            valid: valid.clone(),
            seconds: stats.seconds,
            train_examples_per_sec: stats.examples_per_sec(),
        });
    }
    Ok((learner.best, logs))
}
