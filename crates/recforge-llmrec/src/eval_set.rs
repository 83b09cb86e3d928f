//! The fixed evaluation sample of issue 8, shared by every LLM row and every baseline.
//!
//! `users` test users drawn with a seed from the leave-one-out split (5-core ML-1M, as issue 6
//! uses); for each: the last [`EVAL_HISTORY`] items before the held-out test item (time order,
//! the validation item included), the held-out item and its true rating, and
//! [`EVAL_NEGATIVES`] distinct negatives drawn ∝ training popularity from items outside the
//! user's whole history (seeded). Titles and genres ride along so that readers need no
//! catalogue. Stored as JSONL, one user per line.

use std::collections::HashSet;
use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{LlmRecError, Result};
use crate::jsonl::{read_jsonl, write_jsonl};
use crate::negatives::PopularitySampler;
use crate::rec_data::RecData;

/// Items of history shown per evaluated user.
pub const EVAL_HISTORY: usize = 30;
/// Popularity-sampled negatives per evaluated user (with the held-out item: 20 candidates).
pub const EVAL_NEGATIVES: usize = 19;
/// Default number of evaluated users.
pub const EVAL_USERS: usize = 200;
/// Default seed of the sample.
pub const EVAL_SEED: u64 = 8;

/// One evaluated user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalUser {
    /// Index into `Sequences::users` / `histories`.
    pub user_index: u32,
    /// The user's token in the raw data (joins only; never shown to a model).
    pub user: String,
    /// Item ids, oldest first: the last `EVAL_HISTORY` items before the held-out one.
    pub history: Vec<u32>,
    pub history_titles: Vec<String>,
    /// The user's rating (1-5) of each history item.
    pub history_ratings: Vec<f32>,
    /// The held-out (last) item.
    pub target: u32,
    pub target_title: String,
    pub target_genres: Vec<String>,
    /// The user's true rating of the held-out item (1-5).
    pub rating: f32,
    pub negatives: Vec<u32>,
    pub negative_titles: Vec<String>,
}

impl EvalUser {
    /// The 20 candidates: the held-out item first, then the negatives.
    pub fn candidates(&self) -> Vec<u32> {
        std::iter::once(self.target).chain(self.negatives.iter().copied()).collect()
    }
}

/// How the sample is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSetConfig {
    pub users: usize,
    pub seed: u64,
    pub history: usize,
    pub negatives: usize,
}

impl Default for EvalSetConfig {
    fn default() -> Self {
        Self { users: EVAL_USERS, seed: EVAL_SEED, history: EVAL_HISTORY, negatives: EVAL_NEGATIVES }
    }
}

/// Draws the evaluation sample. Users are returned in index order; the same data and config
/// give the same sample.
pub fn sample_eval_set(data: &RecData, config: &EvalSetConfig) -> Result<Vec<EvalUser>> {
    let seq = &data.sequences;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..seq.histories.len()).collect();
    order.shuffle(&mut rng);
    order.truncate(config.users);
    order.sort_unstable();
    let sampler = PopularitySampler::new(&seq.train_counts)?;
    let catalog = &data.catalog;
    let titles = |ids: &[u32]| ids.iter().map(|&i| catalog.title(i).to_string()).collect::<Vec<_>>();
    let mut out = Vec::with_capacity(order.len());
    for user in order {
        let full = &seq.histories[user];
        let Some((&target, before)) = full.split_last() else { continue };
        let history = before[before.len().saturating_sub(config.history)..].to_vec();
        let seen: HashSet<u32> = full.iter().copied().collect();
        let negatives = sampler.sample(&mut rng, &seen, config.negatives);
        let user_id = seq.users[user];
        let rating = data.ratings.get(user_id, target).ok_or_else(|| {
            LlmRecError::Invalid(format!("user {} has no rating for its held-out item {:?}", data.user_tokens[user], catalog.title(target)))
        })?;
        let history_ratings = history.iter().map(|&i| data.ratings.get(user_id, i).unwrap_or(0.0)).collect();
        out.push(EvalUser {
            user_index: user as u32,
            history_ratings,
            user: data.user_tokens[user].clone(),
            history_titles: titles(&history),
            history,
            target,
            target_title: catalog.title(target).to_string(),
            target_genres: catalog.genres_of(target).to_vec(),
            rating,
            negative_titles: titles(&negatives),
            negatives,
        });
    }
    Ok(out)
}

/// Writes the sample as JSONL.
pub fn write_eval_set(path: &Path, users: &[EvalUser]) -> Result<()> {
    write_jsonl(path, users)
}

/// Reads a sample written by [`write_eval_set`]; a malformed line names file, line and field.
pub fn read_eval_set(path: &Path) -> Result<Vec<EvalUser>> {
    read_jsonl(path)
}

/// The user indices of a sample (their held-out items never enter training data).
pub fn eval_user_indices(users: &[EvalUser]) -> HashSet<u32> {
    users.iter().map(|u| u.user_index).collect()
}
