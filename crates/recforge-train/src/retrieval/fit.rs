//! One training stage of a two-tower retrieval model: shuffled mini-batches of (history,
//! target) pairs, in-batch softmax with logQ correction and per-example weights, Adam on
//! the user tower and (unless frozen) on the item tower, validation after every epoch and
//! early stopping that keeps the best model — the starting model included, so a stage never
//! returns something worse on its own criterion than what it was given.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::Example;
use recforge_models::retrieval::loss::{disagreement, in_batch_softmax};
use recforge_models::retrieval::{HistoryBatch, RetrievalModel};
use serde::{Deserialize, Serialize};

use super::RetrievalError;
use super::config::RetrievalTrainConfig;
use super::data::RetrievalData;
use super::evaluate::{EvalSplit, HitRates, evaluate_model};

/// The validation number a stage maximises (full-corpus HR@200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    Overall,
    Tail,
}

impl Selection {
    pub fn score(self, rates: &HitRates) -> f64 {
        match self {
            Selection::Overall => rates.get("overall", 200),
            Selection::Tail => rates.get("tail", 200),
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

/// Trains `model` (on an autodiff device) for one stage; returns the best model by the
/// stage's validation criterion and the epoch logs.
pub fn train_stage(
    mut model: RetrievalModel,
    data: &RetrievalData,
    config: &RetrievalTrainConfig,
    stage: &Stage,
    rng: &mut StdRng,
    show_progress: bool,
) -> Result<(RetrievalModel, Vec<EpochLog>), RetrievalError> {
    let device = model.user.queries.val().device();
    let plain = Device::default();
    let all_examples = data.sequences.train_examples();
    if all_examples.is_empty() {
        return Err(RetrievalError::NoExamples);
    }
    let mut user_optimizer = AdamConfig::new().init();
    let mut item_optimizer = AdamConfig::new().init();
    let validate = |m: &RetrievalModel| evaluate_model(&m.valid(), data, EvalSplit::Valid, config.seq_len, &plain).full;
    let start = validate(&model);
    let mut logs = vec![EpochLog { stage: stage.name.clone(), epoch: 0, train_loss: f64::NAN, valid: start.clone(), seconds: 0.0, train_examples_per_sec: 0.0 }];
    let mut best = (stage.selection.score(&start), 0usize, model.clone());
    let mut steps = 0usize;
    for epoch in 1..=stage.max_epochs {
        let mut examples = epoch_examples(data, &all_examples, config.max_examples_per_user, rng);
        examples.shuffle(rng);
        let bar = progress_bar(examples.len(), &stage.name, epoch, stage.max_epochs, show_progress);
        let started = Instant::now();
        let (mut loss_sum, mut seen) = (0f64, 0usize);
        for batch in examples.chunks(config.batch_size.max(2)) {
            let contexts: Vec<&[u32]> = batch.iter().map(|&e| data.sequences.context(e, config.seq_len)).collect();
            let targets: Vec<u32> = batch.iter().map(|&e| data.sequences.target(e)).collect();
            let users = model.user.forward(&HistoryBatch::new(&contexts, config.seq_len, &device));
            let mut items = model.item.forward(&targets, &data.items, &device);
            if stage.freeze_items {
                items = items.detach();
            }
            let log_q: Vec<f32> = targets.iter().map(|&t| if config.logq { data.log_q[t as usize] } else { 0.0 }).collect();
            let weights: Vec<f32> = targets.iter().map(|&t| stage.example_weights[t as usize]).collect();
            let n = batch.len();
            let mut loss = in_batch_softmax(
                users,
                items,
                Tensor::<1>::from_data(TensorData::new(log_q, [n]), &device),
                Tensor::<1>::from_data(TensorData::new(weights, [n]), &device),
                config.temperature,
            );
            if config.disagreement > 0.0 {
                loss = loss + disagreement(model.user.queries.val()) * config.disagreement;
            }
            let mut grads = loss.backward();
            let value = loss.into_scalar::<f32>() as f64;
            steps += 1;
            if !value.is_finite() {
                bar.abandon();
                return Err(RetrievalError::Diverged { loss: value, step: steps });
            }
            let RetrievalModel { item, user } = model;
            let user_grads = GradientsParams::from_module(&mut grads, &user);
            let user = user_optimizer.step(stage.lr, user, user_grads);
            let item = if stage.freeze_items {
                item
            } else {
                let item_grads = GradientsParams::from_module(&mut grads, &item);
                item_optimizer.step(stage.lr, item, item_grads)
            };
            model = RetrievalModel { item, user };
            loss_sum += value * n as f64;
            seen += n;
            bar.inc(n as u64);
            bar.set_message(format!("loss {:.4}", loss_sum / seen as f64));
        }
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let valid = validate(&model);
        let score = stage.selection.score(&valid);
        tracing::info!(
            stage = stage.name.as_str(),
            epoch,
            loss = format!("{:.4}", loss_sum / seen.max(1) as f64),
            valid_hr200 = format!("{:.4}", valid.get("overall", 200)),
            valid_tail_hr200 = format!("{:.4}", valid.get("tail", 200)),
            "epoch done"
        );
        logs.push(EpochLog {
            stage: stage.name.clone(),
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            valid,
            seconds,
            train_examples_per_sec: seen as f64 / seconds.max(1e-9),
        });
        if score > best.0 {
            best = (score, epoch, model.clone());
        } else if epoch - best.1 >= config.patience.max(1) {
            break;
        }
    }
    Ok((best.2, logs))
}

/// This epoch's targets: all of them, or at most `cap` random positions per user.
fn epoch_examples(data: &RetrievalData, all: &[Example], cap: Option<usize>, rng: &mut StdRng) -> Vec<Example> {
    let Some(cap) = cap else { return all.to_vec() };
    let mut out = Vec::new();
    for (user, history) in data.sequences.histories.iter().enumerate() {
        let positions = history.len().saturating_sub(3);
        if positions <= cap {
            out.extend((1..history.len() - 2).map(|p| Example { user: user as u32, position: p as u32 }));
        } else {
            for _ in 0..cap {
                let p = rng.random_range(1..history.len() - 2);
                out.push(Example { user: user as u32, position: p as u32 });
            }
        }
    }
    out
}

fn progress_bar(len: usize, stage: &str, epoch: usize, epochs: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ex · {per_sec} · ETA {eta} · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{stage} epoch {epoch}/{epochs}"));
    bar
}
