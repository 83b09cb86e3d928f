//! The one training step loop every model family runs: seeded shuffles, mini-batches,
//! divergence checks, per-epoch validation, early stopping on a score, and progress reported
//! to a [`Progress`] observer.
//!
//! The loop never names a model. A [`Learner`] owns the model, its optimizers and data, and
//! answers three questions: train on these rows (return the batch's mean loss), how good is
//! the model now (a validation score, higher is better), and keep the current model as the
//! best. Ranking, retrieval towers, SASRec, the distillation text head and the selection LM
//! are each a small `Learner`.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_data::{Progress, Unit};
use serde::{Deserialize, Serialize};

/// How long and in what order to train.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// What the progress observer calls this loop ("mlp", "mur stage 2").
    pub label: String,
    /// Upper bound on epochs.
    pub epochs: usize,
    /// Examples (row indices) per step.
    pub batch_size: usize,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
    /// Stop after this many epochs without a better validation score (0: never stop early).
    pub patience: usize,
    /// Shuffle the rows before each epoch (off for order-sensitive data).
    pub shuffle: bool,
    /// Stop after this many steps in all (None: run every epoch to the end).
    pub max_steps: Option<usize>,
}

impl LoopConfig {
    /// `epochs` shuffled epochs of `batch_size` rows, no early stopping, no step cap.
    pub fn new(label: impl Into<String>, epochs: usize, batch_size: usize, seed: u64) -> Self {
        LoopConfig { label: label.into(), epochs, batch_size, seed, patience: 0, shuffle: true, max_steps: None }
    }

    /// With early stopping after `patience` epochs without improvement.
    pub fn with_patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Capped at `steps` optimisation steps in all.
    pub fn with_max_steps(mut self, steps: usize) -> Self {
        self.max_steps = Some(steps);
        self
    }
}

/// A model being trained, as the loop sees it.
pub trait Learner {
    /// The learner's own error; the loop's divergence error converts into it.
    type Error: From<LoopError>;

    /// One optimisation step on `rows`; returns the mean loss of the batch. A non-finite loss
    /// must be returned without applying the update (the loop stops with [`LoopError::Diverged`]).
    fn step(&mut self, rows: &[usize]) -> Result<f64, Self::Error>;

    /// The validation score after `epoch` (higher is better), or None when the learner does
    /// not validate (then the last epoch counts as the best).
    fn validate(&mut self, epoch: usize) -> Result<Option<f64>, Self::Error>;

    /// The model after `epoch` is the best so far: keep a copy to return at the end.
    fn keep_best(&mut self, _epoch: usize) {}
}

/// The loop stopped because training went wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoopError {
    #[error(
        "the training loss became {loss} at epoch {epoch}, step {step}; lower the learning rate, or check the data \
         for extreme numeric values"
    )]
    Diverged { loss: f64, epoch: usize, step: usize },
    #[error("there is nothing to train on: the training rows are empty")]
    NoRows,
    #[error("training was interrupted at epoch {epoch}, step {step}; nothing was saved")]
    Interrupted { epoch: usize, step: usize },
}

/// One epoch as the loop saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean training loss over the epoch's examples.
    pub train_loss: f64,
    /// The learner's validation score, if it validates.
    pub score: Option<f64>,
    /// Optimisation time (validation excluded).
    pub seconds: f64,
    pub examples: usize,
}

impl EpochStats {
    /// Training examples per second of optimisation.
    pub fn examples_per_sec(&self) -> f64 {
        self.examples as f64 / self.seconds.max(1e-9)
    }
}

/// What the loop did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopOutcome {
    pub epochs: Vec<EpochStats>,
    /// The epoch whose model the learner kept (0 when no epoch ran).
    pub best_epoch: usize,
    pub stopped_early: bool,
}

impl LoopOutcome {
    /// Training examples per second over all epochs (optimisation only).
    pub fn examples_per_sec(&self) -> f64 {
        let examples: usize = self.epochs.iter().map(|e| e.examples).sum();
        let seconds: f64 = self.epochs.iter().map(|e| e.seconds).sum();
        examples as f64 / seconds.max(1e-9)
    }
}

/// Trains `learner` over `rows` as `config` says, reporting each epoch to `progress`.
pub fn run_loop<L: Learner>(
    learner: &mut L,
    rows: &[usize],
    config: &LoopConfig,
    progress: &dyn Progress,
) -> Result<LoopOutcome, L::Error> {
    if rows.is_empty() {
        return Err(LoopError::NoRows.into());
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order = rows.to_vec();
    let batch_size = config.batch_size.max(1);
    let mut outcome = LoopOutcome { epochs: Vec::new(), best_epoch: 0, stopped_early: false };
    let mut best_score: Option<f64> = None;
    let mut steps_taken = 0usize;
    for epoch in 1..=config.epochs {
        if config.shuffle {
            order.shuffle(&mut rng);
        }
        let epoch_rows = match config.max_steps {
            Some(cap) => &order[..order.len().min(cap.saturating_sub(steps_taken) * batch_size)],
            None => &order[..],
        };
        if epoch_rows.is_empty() {
            break;
        }
        let label = format!("{} epoch {epoch}/{}", config.label, config.epochs);
        let phase = recforge_data::Phase::begin(progress, &label, Some(epoch_rows.len() as u64), Unit::Examples);
        let started = Instant::now();
        let (mut loss_sum, mut examples) = (0f64, 0usize);
        for (step, batch) in epoch_rows.chunks(batch_size).enumerate() {
            let loss = learner.step(batch)?;
            if !loss.is_finite() {
                return Err(LoopError::Diverged { loss, epoch, step: step + 1 }.into());
            }
            loss_sum += loss * batch.len() as f64;
            examples += batch.len();
            steps_taken += 1;
            phase.update(examples as u64, &format!("loss {:.4}", loss_sum / examples as f64));
            if progress.cancelled() {
                return Err(LoopError::Interrupted { epoch, step: step + 1 }.into());
            }
        }
        drop(phase);
        let seconds = started.elapsed().as_secs_f64();
        let score = learner.validate(epoch)?;
        outcome.epochs.push(EpochStats { epoch, train_loss: loss_sum / examples.max(1) as f64, score, seconds, examples });
        // An epoch without a score, the first scored epoch, and any real score after a NaN one
        // count as improvements.
        let improved = match (score, best_score) {
            (Some(s), Some(b)) => s > b || (b.is_nan() && !s.is_nan()),
            _ => true,
        };
        if improved {
            best_score = score.or(best_score);
            outcome.best_epoch = epoch;
            learner.keep_best(epoch);
        } else if config.patience > 0 && epoch - outcome.best_epoch >= config.patience {
            outcome.stopped_early = epoch < config.epochs;
            break;
        }
        if config.max_steps.is_some_and(|cap| steps_taken >= cap) {
            break;
        }
    }
    Ok(outcome)
}

/// One gradient step of `model` on `loss` (backward, then `optimizer` at `lr`), for learners
/// whose whole model is one burn module: the loss value, and the model unchanged when the loss
/// is not finite ([`run_loop`] then stops with [`LoopError::Diverged`]).
pub fn descend<M: Module>(model: M, loss: Tensor<1>, optimizer: &mut ModuleOptimizer, lr: f64) -> (M, f64) {
    let grads = loss.backward();
    let value = loss.into_scalar::<f32>() as f64;
    if !value.is_finite() {
        return (model, value);
    }
    let grads = GradientsParams::from_grads(grads, &model);
    (optimizer.step(lr, model, grads), value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use recforge_data::Silent;

    /// Learns nothing; its loss and scores are scripted, and it records what the loop asked.
    struct Scripted {
        losses: Vec<f64>,
        scores: Vec<Option<f64>>,
        seen: Vec<Vec<usize>>,
        kept: Vec<usize>,
    }

    impl Scripted {
        fn new(losses: Vec<f64>, scores: Vec<Option<f64>>) -> Self {
            Scripted { losses, scores, seen: Vec::new(), kept: Vec::new() }
        }
    }

    impl Learner for Scripted {
        type Error = LoopError;
        fn step(&mut self, rows: &[usize]) -> Result<f64, LoopError> {
            self.seen.push(rows.to_vec());
            Ok(self.losses.get(self.seen.len() - 1).copied().unwrap_or(1.0))
        }
        fn validate(&mut self, epoch: usize) -> Result<Option<f64>, LoopError> {
            Ok(self.scores.get(epoch - 1).copied().flatten())
        }
        fn keep_best(&mut self, epoch: usize) {
            self.kept.push(epoch);
        }
    }

    #[test]
    fn every_row_is_seen_once_per_epoch_in_batches() {
        let mut learner = Scripted::new(vec![], vec![]);
        let rows: Vec<usize> = (0..10).collect();
        let outcome = run_loop(&mut learner, &rows, &LoopConfig::new("t", 2, 4, 7), &Silent).unwrap();
        assert_eq!(learner.seen.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2, 4, 4, 2]);
        for epoch in learner.seen.chunks(3) {
            let mut all: Vec<usize> = epoch.concat();
            all.sort();
            assert_eq!(all, rows);
        }
        assert_eq!(outcome.epochs.len(), 2);
        assert_eq!(outcome.epochs[0].examples, 10);
    }

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let rows: Vec<usize> = (0..50).collect();
        let order = |seed| {
            let mut learner = Scripted::new(vec![], vec![]);
            run_loop(&mut learner, &rows, &LoopConfig::new("t", 1, 50, seed), &Silent).unwrap();
            learner.seen.concat()
        };
        assert_eq!(order(1), order(1));
        assert_ne!(order(1), order(2));
    }

    #[test]
    fn stops_early_and_reports_the_best_epoch() {
        let scores = vec![Some(0.6), Some(0.7), Some(0.65), Some(0.69), Some(0.8)];
        let mut learner = Scripted::new(vec![], scores);
        let config = LoopConfig::new("t", 5, 10, 0).with_patience(2);
        let outcome = run_loop(&mut learner, &(0..10).collect::<Vec<_>>(), &config, &Silent).unwrap();
        assert_eq!(outcome.best_epoch, 2);
        assert!(outcome.stopped_early);
        assert_eq!(outcome.epochs.len(), 4);
        assert_eq!(learner.kept, vec![1, 2]);
    }

    #[test]
    fn the_mean_loss_weights_batches_by_size() {
        let mut learner = Scripted::new(vec![1.0, 4.0], vec![]);
        let outcome = run_loop(&mut learner, &(0..6).collect::<Vec<_>>(), &LoopConfig::new("t", 1, 4, 0), &Silent).unwrap();
        assert!((outcome.epochs[0].train_loss - (4.0 * 1.0 + 2.0 * 4.0) / 6.0).abs() < 1e-12);
    }

    #[test]
    fn a_non_finite_loss_stops_with_its_position() {
        let mut learner = Scripted::new(vec![0.5, f64::NAN], vec![]);
        let error = run_loop(&mut learner, &(0..8).collect::<Vec<_>>(), &LoopConfig::new("t", 3, 4, 0), &Silent).unwrap_err();
        assert!(matches!(error, LoopError::Diverged { epoch: 1, step: 2, .. }), "{error:?}");
    }

    #[test]
    fn max_steps_caps_the_steps_across_epochs() {
        let mut learner = Scripted::new(vec![], vec![]);
        let config = LoopConfig::new("t", 10, 3, 0).with_max_steps(5);
        let outcome = run_loop(&mut learner, &(0..9).collect::<Vec<_>>(), &config, &Silent).unwrap();
        assert_eq!(learner.seen.len(), 5);
        assert_eq!(outcome.epochs.len(), 2);
    }

    /// Asks to stop once it has seen `after` updates.
    struct StopAfter {
        after: usize,
        updates: std::sync::atomic::AtomicUsize,
    }

    impl Progress for StopAfter {
        fn begin(&self, _: &str, _: Option<u64>, _: Unit) {}
        fn update(&self, _: u64, _: &str) {
            self.updates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn end(&self) {}
        fn cancelled(&self) -> bool {
            self.updates.load(std::sync::atomic::Ordering::Relaxed) >= self.after
        }
    }

    #[test]
    fn a_cancelling_watcher_stops_the_loop_at_the_next_step() {
        let mut learner = Scripted::new(vec![], vec![]);
        let watcher = StopAfter { after: 4, updates: Default::default() };
        let error = run_loop(&mut learner, &(0..12).collect::<Vec<_>>(), &LoopConfig::new("t", 10, 4, 0), &watcher).unwrap_err();
        // Three steps per epoch: the fourth step (epoch 2, step 1) is the last one taken.
        assert_eq!(error, LoopError::Interrupted { epoch: 2, step: 1 });
        assert_eq!(learner.seen.len(), 4);
        assert!(learner.kept == vec![1], "the finished epoch was validated, the interrupted one not: {:?}", learner.kept);
    }

    #[test]
    fn empty_rows_are_an_error() {
        let mut learner = Scripted::new(vec![], vec![]);
        assert_eq!(run_loop(&mut learner, &[], &LoopConfig::new("t", 1, 4, 0), &Silent).unwrap_err(), LoopError::NoRows);
    }
}
