//! Evaluation of an LLM recommender on the fixed sample ([`crate::eval_set`]):
//!
//! - retrieval: constrained beam search over the catalogue trie → top-K titles (the user's
//!   history excluded), Recall@5/10 and NDCG@5/10 of the held-out item;
//! - ranking: the 20 candidates (held-out item + 19 popularity negatives, shown in a seeded
//!   random order) scored by log p(title, end | prompt), same metrics;
//! - rating: the next-token distribution over the digits 1-5 after the rating prompt; the
//!   prediction is the most likely digit (RMSE/MAE), the expectation is reported beside it.
//!
//! A popularity row on the same users comes from the training counts alone.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use recforge_llm::CausalLm;
use recforge_train::metrics::TopKMetrics;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::{LlmRecError, Result};
use crate::eval_set::EvalUser;
use crate::finetune::answer_ids;
use crate::tasks::{ranking_prompt, rating_prompt, retrieval_prompt};
use crate::templates::{Task, TemplateSet};
use crate::trie::{TitleTrie, constrained_beam_search};

/// Cut-offs of the ranking metrics.
pub use recforge_train::metrics::TOP_K_CUTOFFS as CUTOFFS;

/// How prompts are built and searched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Most recent history items shown in a prompt.
    pub history: usize,
    /// Beam width of constrained retrieval.
    pub beam: usize,
    /// Titles returned by retrieval.
    pub top_k: usize,
    /// Which phrasing of each template to use.
    pub phrasing: usize,
    /// Seed of the candidate order in ranking prompts.
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { history: 10, beam: 10, top_k: 10, phrasing: 0, seed: 8 }
    }
}

/// RMSE and MAE of rating predictions.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RatingMetrics {
    pub rmse: f64,
    pub mae: f64,
    /// Of the expected rating under the model's 1-5 distribution.
    pub rmse_expected: f64,
    pub mae_expected: f64,
    pub users: usize,
}

/// RMSE and MAE of `(prediction, truth)` pairs.
pub fn rmse_mae(pairs: &[(f64, f64)]) -> (f64, f64) {
    if pairs.is_empty() {
        return (0.0, 0.0);
    }
    let n = pairs.len() as f64;
    let mse = pairs.iter().map(|(p, t)| (p - t).powi(2)).sum::<f64>() / n;
    let mae = pairs.iter().map(|(p, t)| (p - t).abs()).sum::<f64>() / n;
    (mse.sqrt(), mae)
}

/// One user's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserOutput {
    pub user_index: u32,
    pub target: u32,
    /// Retrieved item ids, best first.
    #[serde(default)]
    pub retrieved: Vec<u32>,
    #[serde(default)]
    pub retrieved_titles: Vec<String>,
    /// The 20 candidates ranked, best first.
    #[serde(default)]
    pub ranked: Vec<u32>,
    pub rating: f32,
    pub rating_predicted: Option<f32>,
    pub rating_expected: Option<f32>,
}

/// Builds the trie of every catalogue title (tokens + end token).
pub fn build_trie(lm: &CausalLm, catalog: &Catalog) -> Result<TitleTrie> {
    let mut trie = TitleTrie::default();
    for item in catalog.item_ids() {
        trie.insert(&answer_ids(lm, catalog.title(item))?, item);
    }
    if trie.is_empty() {
        return Err(LlmRecError::Invalid("the catalogue has no titles".into()));
    }
    Ok(trie)
}

fn history<'a>(user: &'a EvalUser, n: usize) -> (&'a [String], &'a [f32]) {
    let start = user.history_titles.len().saturating_sub(n);
    let ratings_start = user.history_ratings.len().saturating_sub(n);
    (&user.history_titles[start..], &user.history_ratings[ratings_start..])
}

/// Runs `tasks` for one user.
pub fn evaluate_user(
    lm: &CausalLm,
    templates: &TemplateSet,
    trie: &TitleTrie,
    user: &EvalUser,
    tasks: &[Task],
    config: &EvalConfig,
) -> Result<UserOutput> {
    let (titles, ratings) = history(user, config.history);
    let mut out = UserOutput {
        user_index: user.user_index,
        target: user.target,
        retrieved: Vec::new(),
        retrieved_titles: Vec::new(),
        ranked: Vec::new(),
        rating: user.rating,
        rating_predicted: None,
        rating_expected: None,
    };
    if tasks.contains(&Task::Retrieval) {
        let prompt = lm.prompt_ids(&lm.chat_prompt(&retrieval_prompt(templates, config.phrasing, titles)?))?;
        let mut decoder = lm.decoder(&prompt)?;
        let exclude: HashSet<u32> = user.history.iter().copied().collect();
        let found = constrained_beam_search(&mut decoder, trie, config.beam, config.top_k, &exclude)?;
        out.retrieved = found.iter().map(|(i, _)| *i).collect();
    }
    if tasks.contains(&Task::Ranking) {
        let mut candidates: Vec<(u32, String)> =
            std::iter::once((user.target, user.target_title.clone())).chain(user.negatives.iter().copied().zip(user.negative_titles.iter().cloned())).collect();
        candidates.shuffle(&mut StdRng::seed_from_u64(config.seed ^ u64::from(user.user_index)));
        let names: Vec<&str> = candidates.iter().map(|(_, t)| t.as_str()).collect();
        let prompt = lm.prompt_ids(&lm.chat_prompt(&ranking_prompt(templates, config.phrasing, titles, &names)?))?;
        let answers = names.iter().map(|t| answer_ids(lm, t)).collect::<Result<Vec<_>>>()?;
        let scores = lm.continuation_log_probs(&prompt, &answers)?;
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        out.ranked = order.iter().map(|&i| candidates[i].0).collect();
    }
    if tasks.contains(&Task::Rating) {
        let prompt = rating_prompt(templates, config.phrasing, titles, ratings, &user.target_title)?;
        let ids = lm.prompt_ids(&lm.chat_prompt(&prompt))?;
        let logits = lm.next_token_logits(&ids)?;
        let mut probs = Vec::with_capacity(5);
        for digit in 1..=5 {
            let id = *lm.encode(&digit.to_string())?.first().ok_or_else(|| LlmRecError::Invalid("a digit has no token".into()))?;
            probs.push(logits.get(id as usize).copied().unwrap_or(f32::NEG_INFINITY));
        }
        let max = probs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f64> = probs.iter().map(|&l| ((l - max) as f64).exp()).collect();
        let total: f64 = weights.iter().sum();
        let best = (0..5).max_by(|&a, &b| weights[a].total_cmp(&weights[b]).then(b.cmp(&a))).unwrap_or(0);
        out.rating_predicted = Some((best + 1) as f32);
        out.rating_expected = Some((weights.iter().enumerate().map(|(i, w)| (i + 1) as f64 * w).sum::<f64>() / total) as f32);
    }
    Ok(out)
}

/// Metrics of a list of outputs (a task with no outputs gives `None`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalMetrics {
    pub retrieval: Option<TopKMetrics>,
    pub ranking: Option<TopKMetrics>,
    pub rating: Option<RatingMetrics>,
}

pub fn summarize(outputs: &[UserOutput], tasks: &[Task]) -> EvalMetrics {
    let retrieval = tasks
        .contains(&Task::Retrieval)
        .then(|| TopKMetrics::from_rankings(&outputs.iter().map(|o| (o.retrieved.clone(), o.target)).collect::<Vec<_>>()));
    let ranking = tasks
        .contains(&Task::Ranking)
        .then(|| TopKMetrics::from_rankings(&outputs.iter().map(|o| (o.ranked.clone(), o.target)).collect::<Vec<_>>()));
    let rating = tasks.contains(&Task::Rating).then(|| {
        let pick = |f: &dyn Fn(&UserOutput) -> Option<f32>| -> Vec<(f64, f64)> {
            outputs.iter().filter_map(|o| f(o).map(|p| (p as f64, o.rating as f64))).collect()
        };
        let argmax = pick(&|o: &UserOutput| o.rating_predicted);
        let (rmse, mae) = rmse_mae(&argmax);
        let (rmse_expected, mae_expected) = rmse_mae(&pick(&|o: &UserOutput| o.rating_expected));
        RatingMetrics { rmse, mae, rmse_expected, mae_expected, users: argmax.len() }
    });
    EvalMetrics { retrieval, ranking, rating }
}

/// The popularity baseline on the same users: retrieval = the most frequent training items
/// outside the history; ranking = candidates by training count; rating = the user's mean
/// history rating (rounded for RMSE/MAE, exact as the "expected" value).
pub fn popularity_outputs(users: &[EvalUser], train_counts: &[u64], top_k: usize) -> Vec<UserOutput> {
    let mut by_count: Vec<u32> = (1..train_counts.len() as u32).filter(|&i| train_counts[i as usize] > 0).collect();
    by_count.sort_by_key(|&i| (std::cmp::Reverse(train_counts[i as usize]), i));
    users
        .iter()
        .map(|u| {
            let seen: HashSet<u32> = u.history.iter().copied().collect();
            let retrieved: Vec<u32> = by_count.iter().copied().filter(|i| !seen.contains(i)).take(top_k).collect();
            let mut ranked = u.candidates();
            ranked.sort_by_key(|&i| (std::cmp::Reverse(train_counts.get(i as usize).copied().unwrap_or(0)), i));
            let rated: Vec<f32> = u.history_ratings.iter().copied().filter(|&r| r > 0.0).collect();
            let mean = if rated.is_empty() { 4.0 } else { rated.iter().sum::<f32>() / rated.len() as f32 };
            UserOutput {
                user_index: u.user_index,
                target: u.target,
                retrieved,
                retrieved_titles: Vec::new(),
                ranked,
                rating: u.rating,
                rating_predicted: Some(mean.round().clamp(1.0, 5.0)),
                rating_expected: Some(mean),
            }
        })
        .collect()
}
