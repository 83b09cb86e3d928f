//! Training BPR-MF (arXiv 1205.2618) on the leave-one-out split, as a [`Learner`] of the one
//! step loop: every training interaction (user, item) is one row; each step draws one negative
//! per row uniformly from the item ids the user never interacted with in training, minimises
//! the mean −ln σ(x_ui − x_uj) with Adam, and every epoch ends with full-corpus validation
//! NDCG@10; early stopping keeps the best epoch (the untrained model included).

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recforge_data::Progress;
use recforge_models::layers::seed_dropout;
use recforge_models::sequential::{BprConfig, BprMf};

use super::RetrievalError;
use super::architecture::SequentialModel;
use super::config::RetrievalTrainConfig;
use super::data::RetrievalData;
use super::evaluate::EvalSplit;
use super::seq_run::SeqEpoch;
use crate::step_loop::{Learner, LoopConfig, descend, run_loop};

/// Draws of a negative before giving up on avoiding the user's items (a user who interacted
/// with nearly every item).
const NEGATIVE_ATTEMPTS: usize = 64;

struct BprLearner<'a> {
    model: Option<BprMf>,
    best: BprMf,
    best_score: f64,
    last_score: f64,
    /// (user, item) of every training interaction.
    pairs: Vec<(u32, u32)>,
    /// Each user's training items, sorted.
    seen: Vec<Vec<u32>>,
    data: &'a RetrievalData,
    optimizer: ModuleOptimizer,
    lr: f64,
    rng: StdRng,
    device: Device,
    /// Validation (HR@10, NDCG@10) after each epoch.
    valid: Vec<(f64, f64)>,
}

impl BprLearner<'_> {
    fn negative(&mut self, user: u32) -> u32 {
        let n = self.data.sequences.num_items as u32;
        let seen = &self.seen[user as usize];
        let mut item = self.rng.random_range(1..n);
        for _ in 0..NEGATIVE_ATTEMPTS {
            if seen.binary_search(&item).is_err() {
                break;
            }
            item = self.rng.random_range(1..n);
        }
        item
    }

    fn validate_model(&self, model: &BprMf) -> (f64, f64) {
        let valid = SequentialModel::Bpr(model.valid()).evaluate(self.data, EvalSplit::Valid, 0).full;
        (valid.get("overall", 10), valid.ndcg_at(10))
    }
}

impl Learner for BprLearner<'_> {
    type Error = RetrievalError;

    fn step(&mut self, rows: &[usize]) -> Result<f64, RetrievalError> {
        let Some(model) = self.model.take() else { return Err(RetrievalError::NoExamples) };
        let users: Vec<u32> = rows.iter().map(|&r| self.pairs[r].0).collect();
        let positives: Vec<u32> = rows.iter().map(|&r| self.pairs[r].1).collect();
        let negatives: Vec<u32> = users.iter().map(|&u| self.negative(u)).collect();
        let loss = model.triple_loss(&users, &positives, &negatives, &self.device);
        let (model, value) = descend(model, loss, &mut self.optimizer, self.lr);
        self.model = Some(model);
        Ok(value)
    }

    fn validate(&mut self, epoch: usize) -> Result<Option<f64>, RetrievalError> {
        let Some(model) = &self.model else { return Err(RetrievalError::NoExamples) };
        let (hr, ndcg) = self.validate_model(model);
        tracing::info!(epoch, valid_ndcg10 = format!("{ndcg:.4}"), valid_hr10 = format!("{hr:.4}"), "bpr epoch");
        self.valid.push((hr, ndcg));
        self.last_score = ndcg;
        Ok(Some(ndcg))
    }

    fn keep_best(&mut self, _epoch: usize) {
        if self.last_score > self.best_score
            && let Some(model) = &self.model
        {
            self.best = model.valid();
            self.best_score = self.last_score;
        }
    }
}

/// Trains BPR-MF of width `config.dim` with `config`'s learning rate, batch size, epochs,
/// patience and seed; returns the best model by validation NDCG@10 (plain device) and the
/// epoch logs (epoch 0: the untrained model).
pub fn train_bpr(data: &RetrievalData, config: &RetrievalTrainConfig, progress: &dyn Progress) -> Result<(BprMf, Vec<SeqEpoch>), RetrievalError> {
    let sequences = &data.sequences;
    let mut pairs = Vec::new();
    let mut seen = Vec::with_capacity(sequences.histories.len());
    for (user, history) in sequences.histories.iter().enumerate() {
        let train = &history[..history.len().saturating_sub(2)];
        pairs.extend(train.iter().map(|&item| (user as u32, item)));
        let mut items = train.to_vec();
        items.sort_unstable();
        items.dedup();
        seen.push(items);
    }
    if pairs.is_empty() || sequences.num_items < 2 {
        return Err(RetrievalError::NoExamples);
    }
    let device = Device::default().autodiff();
    device.seed(config.seed);
    seed_dropout(config.seed);
    let model = BprConfig::new(sequences.users.len(), sequences.num_items).with_dim(config.dim).init(&device);
    let rows: Vec<usize> = (0..pairs.len()).collect();
    let mut learner = BprLearner {
        best: model.valid(),
        best_score: f64::NEG_INFINITY,
        last_score: f64::NEG_INFINITY,
        model: Some(model),
        pairs,
        seen,
        data,
        optimizer: AdamConfig::new().init(),
        lr: config.lr,
        rng: StdRng::seed_from_u64(config.seed),
        device,
        valid: Vec::new(),
    };
    let (hr, ndcg) = learner.validate_model(&learner.best);
    learner.best_score = ndcg;
    let loop_config = LoopConfig::new("bpr", config.epochs, config.batch_size.max(1), config.seed).with_patience(config.patience.max(1));
    let outcome = run_loop(&mut learner, &rows, &loop_config, progress)?;
    let mut logs = vec![SeqEpoch { epoch: 0, train_loss: None, valid_ndcg10: ndcg, valid_hr10: hr, seconds: 0.0 }];
    for (stats, &(hr, ndcg)) in outcome.epochs.iter().zip(&learner.valid) {
        logs.push(SeqEpoch { epoch: stats.epoch, train_loss: Some(stats.train_loss), valid_ndcg10: ndcg, valid_hr10: hr, seconds: stats.seconds });
    }
    Ok((learner.best, logs))
}
