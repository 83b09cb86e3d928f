//! Rating prediction (1-5) on the evaluation users with and without zero-shot chain of
//! thought (arXiv 2408.00802). Writes `predictions_<mode>.jsonl`, `metrics.json`
//! ([`ReasonSummary`]) and, given a reasoning model, `reasoning_train.jsonl`: its chains of
//! thought as `task`/`prompt`/`target` fine-tuning rows. Model outputs are cached in
//! `cache.jsonl`, so a rerun (or one over more users) only computes what is new.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use recforge_data::{Phase, Progress, Unit};
use recforge_llm::{Backend, CausalLm, LoadOptions};
use serde::{Deserialize, Serialize};

use super::inputs::{load_eval_users, load_rec_data};
use super::{create_dir, write_json};
use crate::error::{LlmRecError, Result};
use crate::eval_set::EVAL_SEED;
use crate::generation_cache::GenerationCache;
use crate::jsonl::write_jsonl;
use crate::reasoning::{Mode, RatingCase, RatingMetrics, ReasoningConfig, predict, reasoning_row};

/// SmolLM2-135M-Instruct as `recforge data fetch --only smollm2` places it.
pub fn default_model() -> PathBuf {
    recforge_data::paths::data_dir().join("models").join("smollm2-135m-instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// What to predict, with which model.
#[derive(Debug, Clone)]
pub struct ReasonRequest {
    /// `ml-1m`, `ml-100k` or a schema TOML.
    pub dataset: String,
    /// A .gguf file or Hugging Face directory; None: [`default_model`].
    pub model: Option<PathBuf>,
    /// The engine running .gguf models (directories always run on candle).
    pub backend: Backend,
    /// The evaluation sample; None: the default sample of `eval_users` users.
    pub eval_set: Option<PathBuf>,
    pub eval_users: usize,
    /// Predict for the first N evaluation users only.
    pub limit: Option<usize>,
    pub modes: Vec<Mode>,
    /// History items shown per user (most recent).
    pub history: usize,
    pub config: ReasoningConfig,
    /// A (larger) model whose chains of thought become fine-tuning rows.
    pub reasoning_model: Option<PathBuf>,
    pub out: PathBuf,
}

/// One mode's results in `metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeResult {
    pub metrics: RatingMetrics,
    pub seconds: f64,
    pub reasoning_tokens: usize,
    pub reasoning_tokens_per_sec: f64,
}

/// `metrics.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasonSummary {
    pub model: String,
    pub model_path: PathBuf,
    pub users: usize,
    pub history: usize,
    /// By mode name (`direct`, `cot`).
    pub modes: BTreeMap<String, ModeResult>,
    /// Rows written to `reasoning_train.jsonl` (0 without a reasoning model).
    #[serde(default)]
    pub reasoning_rows: usize,
}

/// The predictions file of `mode` in an output folder.
pub fn predictions_file(out: &Path, mode: Mode) -> PathBuf {
    out.join(format!("predictions_{}.jsonl", mode.name()))
}

/// Predicts every mode for every case and writes the output folder.
pub fn run_reason(request: &ReasonRequest, progress: &dyn Progress) -> Result<ReasonSummary> {
    if request.modes.is_empty() {
        return Err(LlmRecError::Invalid("no prediction mode: give direct, cot or both".into()));
    }
    let (_, data) = load_rec_data(&request.dataset, progress)?;
    let users = load_eval_users(&data, request.eval_set.as_deref(), request.eval_users, EVAL_SEED)?;
    let cases: Vec<RatingCase> =
        users.iter().take(request.limit.unwrap_or(usize::MAX)).map(|u| RatingCase::from_eval_user(u, request.history)).collect();
    create_dir(&request.out)?;
    let cache = GenerationCache::open(&request.out.join("cache.jsonl"))?;
    let model_path = request.model.clone().unwrap_or_else(default_model);
    let options = LoadOptions { backend: request.backend, ..LoadOptions::default() };
    let model = CausalLm::load_with(&model_path, options)?;
    tracing::info!("{} evaluation users with {} history items each; model {}", cases.len(), request.history, model.model_id());
    let mut modes = BTreeMap::new();
    for &mode in &request.modes {
        let started = Instant::now();
        let phase = Phase::begin(progress, mode.name(), Some(cases.len() as u64), Unit::Items);
        let mut predictions = Vec::with_capacity(cases.len());
        let mut reasoning_tokens = 0usize;
        for case in &cases {
            let prediction = predict(&model, case, mode, &request.config, Some(&cache))?;
            reasoning_tokens += model.count_tokens(&prediction.reasoning);
            predictions.push(prediction);
            let m = RatingMetrics::of(&predictions);
            phase.update(predictions.len() as u64, &format!("RMSE {:.3} MAE {:.3}", m.rmse, m.mae));
        }
        drop(phase);
        let seconds = started.elapsed().as_secs_f64();
        write_jsonl(&predictions_file(&request.out, mode), &predictions)?;
        let metrics = RatingMetrics::of(&predictions);
        let result = ModeResult { metrics, seconds, reasoning_tokens, reasoning_tokens_per_sec: reasoning_tokens as f64 / seconds.max(1e-9) };
        modes.insert(mode.name().to_string(), result);
    }
    let mut reasoning_rows = 0;
    if let Some(teacher_path) = &request.reasoning_model {
        let teacher = CausalLm::load_with(teacher_path, options)?;
        let phase = Phase::begin(progress, "reasoning rows", Some(cases.len() as u64), Unit::Items);
        let mut rows = Vec::with_capacity(cases.len());
        for case in &cases {
            rows.push(reasoning_row(&teacher, case, &request.config, Some(&cache))?);
            phase.update(rows.len() as u64, "");
        }
        drop(phase);
        write_jsonl(&request.out.join("reasoning_train.jsonl"), &rows)?;
        tracing::info!("wrote {} reasoning rows from {}", rows.len(), teacher.model_id());
        reasoning_rows = rows.len();
    }
    let summary = ReasonSummary {
        model: model.model_id().to_string(),
        model_path,
        users: cases.len(),
        history: request.history,
        modes,
        reasoning_rows,
    };
    write_json(&request.out.join("metrics.json"), &summary)?;
    Ok(summary)
}
