//! LLM reasoning for rating prediction — "Leveraging LLM Reasoning Enhances Personalized
//! Recommender Systems" (arXiv 2408.00802): predict a user's 1-5 rating of an item from the
//! titles and ratings of their history, directly or after zero-shot chain-of-thought.
//!
//! - Direct: the prompt asks for one number; the answer is read from the next-token
//!   distribution over "1".."5" after `Rating:` (argmax; the expectation is kept too), so every
//!   case gets a valid rating.
//! - Chain of thought: the model first writes a short explanation of how the item fits the
//!   user's taste (stopped at `Rating:`), then the rating is read the same way after
//!   `<explanation>\nRating:`.
//! - Reasoning distillation data: a (larger) teacher model's chain of thought becomes the target
//!   of a `rating_cot` task row, `<reasoning>\nRating: <true rating>`, in the `task`/`prompt`/
//!   `target` format of `recforge llm make-data`.
//!
//! Predictions are JSON Lines ([`Prediction`]); [`read_predictions`] names file, line and field
//! of a malformed row.

use std::path::Path;

use recforge_llm::GenerationParams;
use serde::{Deserialize, Serialize};

use crate::chat_model::{ChatModel, RATING_LEVELS, argmax_rating, expected_rating};
use crate::error::{LlmRecError, Result};
use crate::eval_set::EvalUser;
use crate::generation_cache::GenerationCache;

/// Where the model's answer for the rating begins.
pub const RATING_PREFIX: &str = "Rating:";

/// One history item as shown to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatedTitle {
    pub title: String,
    pub rating: f32,
}

/// What a rating prediction is made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingCase {
    /// The user's dataset token (joins only; never shown to a model).
    pub user: String,
    /// Oldest first.
    pub history: Vec<RatedTitle>,
    pub item: String,
    #[serde(default)]
    pub genres: Vec<String>,
    pub true_rating: f32,
}

impl RatingCase {
    /// From an evaluation user, keeping the `max_history` most recent history items.
    pub fn from_eval_user(user: &EvalUser, max_history: usize) -> Self {
        let n = user.history_titles.len();
        let start = n.saturating_sub(max_history);
        RatingCase {
            user: user.user.clone(),
            history: user.history_titles[start..]
                .iter()
                .zip(&user.history_ratings[start.min(user.history_ratings.len())..])
                .map(|(title, &rating)| RatedTitle { title: title.clone(), rating })
                .collect(),
            item: user.target_title.clone(),
            genres: user.target_genres.clone(),
            true_rating: user.rating,
        }
    }
}

/// Direct answer or chain of thought first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Direct,
    Cot,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Cot => "cot",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "direct" => Ok(Mode::Direct),
            "cot" => Ok(Mode::Cot),
            other => Err(format!("unknown mode `{other}` (expected direct or cot)")),
        }
    }
}

/// One row of a predictions file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub user: String,
    pub history: Vec<RatedTitle>,
    pub item: String,
    #[serde(default)]
    pub genres: Vec<String>,
    pub true_rating: f32,
    /// Argmax of the rating distribution.
    pub predicted_rating: f32,
    /// Σ r · p(r).
    #[serde(default)]
    pub expected_rating: f32,
    /// P(1..5).
    #[serde(default)]
    pub probabilities: Vec<f64>,
    /// The chain of thought ("" for direct predictions).
    #[serde(default)]
    pub reasoning: String,
    pub mode: Mode,
    #[serde(default)]
    pub model: String,
}

/// The history as prompt lines.
pub fn history_lines(history: &[RatedTitle]) -> String {
    history.iter().map(|h| format!("- {}: {}", h.title, format_rating(h.rating))).collect::<Vec<_>>().join("\n")
}

fn format_rating(r: f32) -> String {
    if r.fract() == 0.0 { format!("{r:.0}") } else { format!("{r}") }
}

fn item_line(case: &RatingCase) -> String {
    if case.genres.is_empty() { format!("\"{}\"", case.item) } else { format!("\"{}\" ({})", case.item, case.genres.join(", ")) }
}

/// The user message of a direct prediction.
pub fn direct_prompt(case: &RatingCase) -> String {
    format!(
        "A user rated these movies from 1 (hated it) to 5 (loved it):\n{}\n\nPredict the user's rating of {}. Answer with one number from 1 to 5.",
        history_lines(&case.history),
        item_line(case)
    )
}

/// The user message of a chain-of-thought prediction.
pub fn cot_prompt(case: &RatingCase) -> String {
    format!(
        "A user rated these movies from 1 (hated it) to 5 (loved it):\n{}\n\nWill the user like {}? First explain in two or three sentences how this movie fits the user's taste, then give the predicted rating as \"Rating: N\" with N from 1 to 5.",
        history_lines(&case.history),
        item_line(case)
    )
}

/// Generation settings of a prediction run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasoningConfig {
    /// Most tokens of a chain of thought.
    pub max_reasoning_tokens: usize,
    /// 0 = greedy.
    pub temperature: f64,
    pub seed: u64,
}

impl Default for ReasoningConfig {
    fn default() -> Self {
        Self { max_reasoning_tokens: 96, temperature: 0.0, seed: 42 }
    }
}

impl ReasoningConfig {
    fn params(&self) -> GenerationParams {
        GenerationParams {
            temperature: self.temperature,
            top_p: 0.95,
            max_tokens: self.max_reasoning_tokens,
            stop: vec![RATING_PREFIX.to_string(), "<|im_end|>".to_string()],
            seed: self.seed,
        }
    }

    fn cache_kind(&self, what: &str) -> String {
        format!("{what}|t={}|seed={}|max={}", self.temperature, self.seed, self.max_reasoning_tokens)
    }
}

/// A chain of thought for `case` (cached): the model's explanation, trimmed.
pub fn chain_of_thought(model: &dyn ChatModel, case: &RatingCase, config: &ReasoningConfig, cache: Option<&GenerationCache>) -> Result<String> {
    let prompt = cot_prompt(case);
    let generate = || model.complete(&prompt, "", &config.params()).map(|t| t.trim().to_string());
    match cache {
        Some(cache) => Ok(cache.get_or_compute(model.model_id(), &config.cache_kind("cot"), &prompt, generate)?.0),
        None => Ok(generate()?),
    }
}

/// The rating distribution after `user_message` and `answer_prefix` (cached).
pub fn cached_distribution(model: &dyn ChatModel, user_message: &str, answer_prefix: &str, cache: Option<&GenerationCache>) -> Result<[f64; RATING_LEVELS]> {
    let compute = || model.rating_distribution(user_message, answer_prefix);
    match cache {
        Some(cache) => {
            let input = format!("{user_message}\u{0}{answer_prefix}");
            Ok(cache.get_or_compute(model.model_id(), "rating-distribution", &input, compute)?.0)
        }
        None => Ok(compute()?),
    }
}

/// Predicts the rating of one case.
pub fn predict(model: &dyn ChatModel, case: &RatingCase, mode: Mode, config: &ReasoningConfig, cache: Option<&GenerationCache>) -> Result<Prediction> {
    let (reasoning, distribution) = match mode {
        Mode::Direct => (String::new(), cached_distribution(model, &direct_prompt(case), RATING_PREFIX, cache)?),
        Mode::Cot => {
            let reasoning = chain_of_thought(model, case, config, cache)?;
            let prefix = format!("{reasoning}\n{RATING_PREFIX}");
            (reasoning, cached_distribution(model, &cot_prompt(case), &prefix, cache)?)
        }
    };
    Ok(Prediction {
        user: case.user.clone(),
        history: case.history.clone(),
        item: case.item.clone(),
        genres: case.genres.clone(),
        true_rating: case.true_rating,
        predicted_rating: argmax_rating(&distribution),
        expected_rating: expected_rating(&distribution),
        probabilities: distribution.to_vec(),
        reasoning,
        mode,
        model: model.model_id().to_string(),
    })
}

/// RMSE and MAE of a set of predictions (argmax and expected rating), and exact-match accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingMetrics {
    pub examples: usize,
    pub rmse: f64,
    pub mae: f64,
    pub rmse_expected: f64,
    pub mae_expected: f64,
    /// Share of predictions equal to the true rating.
    pub accuracy: f64,
}

impl RatingMetrics {
    pub fn of(predictions: &[Prediction]) -> Self {
        let n = predictions.len();
        let errors: Vec<f64> = predictions.iter().map(|p| (p.predicted_rating - p.true_rating) as f64).collect();
        let expected: Vec<f64> = predictions.iter().map(|p| (p.expected_rating - p.true_rating) as f64).collect();
        let (rmse, mae) = rmse_mae(&errors);
        let (rmse_expected, mae_expected) = rmse_mae(&expected);
        let exact = predictions.iter().filter(|p| p.predicted_rating == p.true_rating.round()).count();
        RatingMetrics { examples: n, rmse, mae, rmse_expected, mae_expected, accuracy: if n == 0 { f64::NAN } else { exact as f64 / n as f64 } }
    }
}

/// (RMSE, MAE) of errors; NaN for none.
pub fn rmse_mae(errors: &[f64]) -> (f64, f64) {
    if errors.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = errors.len() as f64;
    ((errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt(), errors.iter().map(|e| e.abs()).sum::<f64>() / n)
}

/// A fine-tuning row in the `task`/`prompt`/`target` format of `recforge llm make-data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningRow {
    pub task: String,
    pub prompt: String,
    pub target: String,
}

/// The task name of reasoning-distillation rows.
pub const REASONING_TASK: &str = "rating_cot";

/// A teacher's chain of thought for `case` as a training row whose target ends with the true
/// rating.
pub fn reasoning_row(teacher: &dyn ChatModel, case: &RatingCase, config: &ReasoningConfig, cache: Option<&GenerationCache>) -> Result<ReasoningRow> {
    let reasoning = chain_of_thought(teacher, case, config, cache)?;
    Ok(ReasoningRow {
        task: REASONING_TASK.to_string(),
        prompt: cot_prompt(case),
        target: format!("{reasoning}\n{RATING_PREFIX} {}", format_rating(case.true_rating)),
    })
}

/// Reads a predictions file: every non-blank line a [`Prediction`]; a malformed line or a rating
/// outside 1-5 is an error naming the file, the line and the field.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>> {
    let text = std::fs::read_to_string(path).map_err(|e| LlmRecError::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Prediction = serde_json::from_str(line).map_err(|e| LlmRecError::parse(path, i + 1, e.to_string()))?;
        for (field, value) in [("true_rating", row.true_rating), ("predicted_rating", row.predicted_rating)] {
            if !(1.0..=RATING_LEVELS as f32).contains(&value) {
                return Err(LlmRecError::parse(path, i + 1, format!("field `{field}`: {value} is not a rating from 1 to 5")));
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(LlmRecError::Invalid(format!("{}: no predictions (the file is empty)", path.display())));
    }
    Ok(rows)
}
