//! Training and scoring SASRec (arXiv 1808.09781) on the leave-one-out split of
//! [`recforge_data::Sequences`] — the split the retrieval experiments and the LLM evaluation use.
//!
//! Each user contributes one training sequence: the history without its validation and test
//! items; every position predicts the next item with a softmax over the full catalogue (the
//! padding id 0 excluded). Adam, shuffled user batches, validation NDCG@10 on the
//! second-to-last item after every epoch (full-catalogue ranking, earlier items excluded) and
//! early stopping that keeps the best epoch — a [`Learner`] of the one step loop.

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use recforge_data::{Progress, Sequences};
use recforge_models::layers::seed_dropout;
use recforge_models::sequential::{SasRec, SasRecConfig, SequenceBatch};
use serde::{Deserialize, Serialize};

use crate::metrics::TiedRank;
use crate::step_loop::{Learner, LoopConfig, LoopError, descend, run_loop};

/// Users scored per forward pass at evaluation.
const EVAL_BATCH: usize = 256;
/// Masked-out score for items that may not be recommended (padding, earlier items).
const EXCLUDED: f32 = f32::NEG_INFINITY;

/// How SASRec is sized and trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SasRecTrainConfig {
    pub dim: usize,
    pub max_len: usize,
    pub blocks: usize,
    pub heads: usize,
    pub dropout: f64,
    pub batch_size: usize,
    pub lr: f64,
    pub epochs: usize,
    /// Epochs without validation improvement before stopping.
    pub patience: usize,
    pub seed: u64,
}

impl Default for SasRecTrainConfig {
    fn default() -> Self {
        SasRecTrainConfig { dim: 50, max_len: 50, blocks: 2, heads: 1, dropout: 0.2, batch_size: 128, lr: 1e-3, epochs: 20, patience: 3, seed: 42 }
    }
}

impl SasRecTrainConfig {
    pub fn model_config(&self, num_items: usize) -> SasRecConfig {
        SasRecConfig::new(num_items)
            .with_dim(self.dim)
            .with_max_len(self.max_len)
            .with_blocks(self.blocks)
            .with_heads(self.heads)
            .with_dropout(self.dropout)
    }
}

/// One epoch of training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SasRecEpoch {
    pub epoch: usize,
    /// Mean training loss of the epoch; `None` for epoch 0 (the untrained model's validation).
    pub train_loss: Option<f64>,
    pub valid_ndcg10: f64,
    pub valid_hr10: f64,
    pub seconds: f64,
}

/// Why SASRec could not train.
#[derive(Debug, thiserror::Error)]
pub enum SasRecError {
    #[error("no user has a training sequence of at least 2 items (histories need 4+ items)")]
    NoSequences,
    #[error(transparent)]
    Loop(#[from] LoopError),
}

/// Input and next-item targets of one user's training sequence (the history without its last
/// two items), at most `max_len` positions, or `None` when it is shorter than 2 items.
pub fn training_pair(history: &[u32], max_len: usize) -> Option<(&[u32], &[u32])> {
    let train = &history[..history.len().saturating_sub(2)];
    if train.len() < 2 {
        return None;
    }
    let n = (train.len() - 1).min(max_len);
    Some((&train[train.len() - 1 - n..train.len() - 1], &train[train.len() - n..]))
}

/// Mean next-item cross-entropy over the real positions of a batch (`[batch, len]` targets,
/// 0 on padding) — the training loss.
pub fn next_item_loss(model: &SasRec, inputs: &[&[u32]], targets: &[&[u32]], device: &Device) -> Tensor<1> {
    let len = inputs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
    let batch = SequenceBatch::with_len(inputs, len, device);
    let hidden = model.forward(&batch);
    let [rows, _, dim] = hidden.dims();
    let logits = hidden.reshape([rows * len, dim]).matmul(model.items.weight.val().transpose());
    let mut target_ids = Vec::with_capacity(rows * len);
    let mut weights = Vec::with_capacity(rows * len);
    for t in targets {
        let pad = len - t.len();
        target_ids.extend(std::iter::repeat_n(0i64, pad));
        target_ids.extend(t.iter().map(|&i| i64::from(i)));
        weights.extend(std::iter::repeat_n(0f32, pad));
        weights.extend(std::iter::repeat_n(1f32, t.len()));
    }
    let real: f32 = weights.iter().sum();
    let target_ids = Tensor::<2, Int>::from_data(TensorData::new(target_ids, [rows * len, 1]), device);
    let weights = Tensor::<1>::from_data(TensorData::new(weights, [rows * len]), device);
    let picked = log_softmax(logits, 1).gather(1, target_ids).reshape([rows * len]);
    (picked * weights).sum().neg() / real.max(1.0)
}

/// Scores `[histories × num_items]` (row-major) of every item as the next one; the padding id
/// and each history's own items are set to −∞ so they are never recommended.
pub fn score_histories(model: &SasRec, histories: &[&[u32]], device: &Device) -> Vec<f32> {
    let mut out = Vec::new();
    for chunk in histories.chunks(EVAL_BATCH) {
        let batch = SequenceBatch::new(chunk, model.max_len(), device);
        let scores = model.score_all(&batch).into_data().try_to_vec::<f32>().unwrap_or_default();
        let n = scores.len() / chunk.len().max(1);
        let mut scores = scores;
        for (row, history) in chunk.iter().enumerate() {
            scores[row * n] = EXCLUDED;
            for &item in history.iter() {
                if (item as usize) < n {
                    scores[row * n + item as usize] = EXCLUDED;
                }
            }
        }
        out.extend(scores);
    }
    out
}

/// The `k` best item ids of one score row, best first (ties by lower id).
pub fn top_k(scores: &[f32], k: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..scores.len() as u32).filter(|&i| scores[i as usize] > EXCLUDED).collect();
    let k = k.min(ids.len());
    if k == 0 {
        return Vec::new();
    }
    let by_score = |a: &u32, b: &u32| scores[*b as usize].total_cmp(&scores[*a as usize]).then(a.cmp(b));
    ids.select_nth_unstable_by(k - 1, by_score);
    ids.truncate(k);
    ids.sort_by(by_score);
    ids
}

/// Where `target` stands among the recommendable items of one score row (those above −∞,
/// the target itself excluded), ties counted by expectation.
pub fn target_rank(scores: &[f32], target: u32) -> TiedRank {
    let t = scores.get(target as usize).copied().unwrap_or(EXCLUDED);
    let others = scores.iter().enumerate().filter(|&(i, &s)| i != target as usize && s > EXCLUDED).map(|(_, &s)| s);
    TiedRank::of(t, others)
}

/// Validation (second-to-last item) HR@10 and NDCG@10 with full-catalogue ranking (ties
/// counted by expectation under random tie-breaking).
pub fn validate(model: &SasRec, seq: &Sequences, device: &Device) -> (f64, f64) {
    let contexts: Vec<&[u32]> = seq.histories.iter().map(|h| &h[..h.len() - 2]).collect();
    let scores = score_histories(model, &contexts, device);
    let n = seq.num_items;
    let (mut hr, mut ndcg) = (0.0, 0.0);
    for (u, history) in seq.histories.iter().enumerate() {
        let rank = target_rank(&scores[u * n..(u + 1) * n], history[history.len() - 2]);
        hr += rank.hit_at(10);
        ndcg += rank.ndcg_at(10);
    }
    let users = seq.histories.len().max(1) as f64;
    (hr / users, ndcg / users)
}

/// SASRec, its optimizer and the training pairs, as the step loop drives them.
struct SasRecLearner<'a> {
    model: Option<SasRec>,
    best: SasRec,
    best_ndcg: f64,
    last: (f64, f64),
    pairs: Vec<(&'a [u32], &'a [u32])>,
    seq: &'a Sequences,
    optimizer: ModuleOptimizer,
    lr: f64,
    device: Device,
    /// Validation (HR@10, NDCG@10) after each epoch.
    valid: Vec<(f64, f64)>,
}

impl Learner for SasRecLearner<'_> {
    type Error = SasRecError;

    fn step(&mut self, rows: &[usize]) -> Result<f64, SasRecError> {
        let Some(model) = self.model.take() else { return Err(SasRecError::NoSequences) };
        let inputs: Vec<&[u32]> = rows.iter().map(|&i| self.pairs[i].0).collect();
        let targets: Vec<&[u32]> = rows.iter().map(|&i| self.pairs[i].1).collect();
        let loss = next_item_loss(&model, &inputs, &targets, &self.device);
        let (model, value) = descend(model, loss, &mut self.optimizer, self.lr);
        self.model = Some(model);
        Ok(value)
    }

    fn validate(&mut self, epoch: usize) -> Result<Option<f64>, SasRecError> {
        let Some(model) = &self.model else { return Err(SasRecError::NoSequences) };
        let (hr, ndcg) = validate(&model.valid(), self.seq, &Device::default());
        tracing::info!(epoch, valid_ndcg10 = format!("{ndcg:.4}"), valid_hr10 = format!("{hr:.4}"), "sasrec epoch");
        self.last = (hr, ndcg);
        self.valid.push((hr, ndcg));
        Ok(Some(ndcg))
    }

    fn keep_best(&mut self, _epoch: usize) {
        // The untrained model stays the best unless an epoch beats it.
        if self.last.1 > self.best_ndcg
            && let Some(model) = &self.model
        {
            self.best = model.valid();
            self.best_ndcg = self.last.1;
        }
    }
}

/// Trains SASRec on `seq` with the one step loop (users shuffled by `config.seed`); returns
/// the best model by validation NDCG@10 (on the plain device) and the epoch logs (epoch 0 is
/// the untrained model).
pub fn train_sasrec(seq: &Sequences, config: &SasRecTrainConfig, progress: &dyn Progress) -> Result<(SasRec, Vec<SasRecEpoch>), SasRecError> {
    let pairs: Vec<(&[u32], &[u32])> = seq.histories.iter().filter_map(|h| training_pair(h, config.max_len)).collect();
    if pairs.is_empty() {
        return Err(SasRecError::NoSequences);
    }
    let device = Device::default().autodiff();
    device.seed(config.seed);
    seed_dropout(config.seed);
    let model = config.model_config(seq.num_items).init(&device);
    let (hr, ndcg) = validate(&model.valid(), seq, &Device::default());
    let rows: Vec<usize> = (0..pairs.len()).collect();
    let mut learner = SasRecLearner {
        best: model.valid(),
        best_ndcg: ndcg,
        last: (hr, ndcg),
        model: Some(model),
        pairs,
        seq,
        optimizer: AdamConfig::new().init(),
        lr: config.lr,
        device,
        valid: Vec::new(),
    };
    let loop_config = LoopConfig::new("sasrec", config.epochs, config.batch_size.max(1), config.seed).with_patience(config.patience.max(1));
    let outcome = run_loop(&mut learner, &rows, &loop_config, progress)?;
    let mut logs = vec![SasRecEpoch { epoch: 0, train_loss: None, valid_ndcg10: ndcg, valid_hr10: hr, seconds: 0.0 }];
    for (stats, &(hr, ndcg)) in outcome.epochs.iter().zip(&learner.valid) {
        logs.push(SasRecEpoch { epoch: stats.epoch, train_loss: Some(stats.train_loss), valid_ndcg10: ndcg, valid_hr10: hr, seconds: stats.seconds });
    }
    Ok((learner.best, logs))
}
